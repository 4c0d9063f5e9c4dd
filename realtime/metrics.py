"""Prometheus metrics of a gateway node."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONNECTED = Gauge("gateway_connected_sockets", "Sockets connected to this node")
ROOMS = Gauge("gateway_rooms", "Stream rooms with at least one socket on this node")
EVENTS_IN = Counter("gateway_events_in_total", "Client events received", ["event", "result"])
EVENTS_OUT = Counter("gateway_events_out_total", "Room events emitted", ["event"])
RELAYED = Counter("gateway_relayed_total", "Commerce events relayed", ["type"])
RELAY_PENDING = Gauge("gateway_relay_pending", "Entries pending in the gateway consumer group")
RELAY_PENDING_AGE = Gauge(
    "gateway_relay_pending_oldest_age_seconds",
    "Age of the oldest entry read but not yet acknowledged by the gateway consumer group",
)
REACTIONS = Counter("gateway_reactions_total", "Reactions accepted on this node", ["kind"])
CHAT_MESSAGES = Counter("gateway_chat_messages_total", "Chat messages accepted on this node")
RELAY_LAG = Histogram(
    "gateway_relay_lag_seconds",
    "Time from the event's occurrence to its emit",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30),
)
FANOUT_WRITES = Counter(
    "gateway_fanout_writes_total",
    "Room-emit deliveries to local sockets: written to the transport at once (direct) or put on "
    "the socket's Engine.IO queue (queued: polling, busy writer, slow reader)",
    ["path"],
)
BAD_INPUT = Counter(
    "gateway_bad_input_total",
    "Bad client input: protocol violations (engineio, socketio, connect_timeout) and event "
    "payloads that failed validation (invalid)",
    ["kind"],
)
BAD_INPUT_DISCONNECTS = Counter(
    "gateway_bad_input_disconnects_total", "Sockets disconnected for too much bad input"
)
PUBSUB_RECEIVED = Counter(
    "gateway_pubsub_messages_received_total",
    "Cross-node fan-out messages this node received from Redis: on a room channel it subscribes "
    "to while it has members there (room), on the control channel every node hears (control), "
    "or on python-socketio's one shared channel (single)",
    ["channel"],
)
PUBSUB_SUBSCRIPTIONS = Gauge(
    "gateway_pubsub_room_subscriptions", "Room channels this node is subscribed to"
)
