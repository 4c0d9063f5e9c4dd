"""Room and Redis key names: built here and nowhere else.

Every key of one room carries the hash tag `{stream:<id>}` (`room:{stream:7}:chat`), so on a
Redis Cluster all of a room's keys live in one slot and a script may touch any of them
together. Gateway-wide keys (the node list, a node's room set) and the relay's stock routing
index (`pins:{live:product:9:stock}`, in the slot of the product's stock) have their own
slots; no script touches them together with a room's keys (tests/realtime/test_key_slots.py).

Scripts that fill in a room's keys themselves get templates from `template()` with a `{room}`
placeholder, and are always run for one room at a time.
"""

from __future__ import annotations

from shared import livedata, roomstats

ROOM = "{room}"
NODE = "{node}"


def stream_room(stream_id: int) -> str:
    return f"stream:{stream_id}"


def user_room(user_id: int) -> str:
    """Every socket of a signed-in user joins this, so they can be reached (or dropped) at once."""
    return f"user:{user_id}"


def key(stream_id: int | str, what: str) -> str:
    """Redis key for a piece of a room's shared state, e.g. key(7, "chat")."""
    return roomstats.room_key(stream_id, what)


def template(what: str) -> str:
    """`key()` with a `{room}` placeholder, for Lua scripts that fill in the stream id."""
    return key(ROOM, what)


# --- per-room state -----------------------------------------------------------------------


def chat_history(stream_id: int) -> str:
    return key(stream_id, "chat")


def chat_window(stream_id: int) -> str:
    return key(stream_id, "chat:window")


def chat_pending(stream_id: int) -> str:
    return key(stream_id, "chat:pending")


def chat_flush_lock(stream_id: int) -> str:
    return key(stream_id, "chat:flusher")


def slow_mode(stream_id: int) -> str:
    return key(stream_id, "slow")


def slow_mode_user(stream_id: int, user_id: int) -> str:
    return key(stream_id, f"slow:{user_id}")


def muted(stream_id: int, user_id: int) -> str:
    return key(stream_id, f"muted:{user_id}")


def banned(stream_id: int) -> str:
    return key(stream_id, "banned")


def pin(stream_id: int) -> str:
    return key(stream_id, "pin")


def viewers(stream_id: int | str) -> str:
    """Hash member -> number of nodes holding it; HLEN is the exact viewer count."""
    return roomstats.viewers(stream_id)


def node_viewers(stream_id: int | str, node_id: str) -> str:
    """Hash of the members one node holds in a room (what the sweeper removes if it dies)."""
    return key(stream_id, f"vnode:{node_id}")


def uniques(stream_id: int) -> str:
    """HyperLogLog of distinct viewers (analytics)."""
    return roomstats.uniques(stream_id)


def signed_in_uniques(stream_id: int) -> str:
    """HyperLogLog of distinct signed-in viewers (analytics: conversion)."""
    return roomstats.signed_in_uniques(stream_id)


def peak_viewers(stream_id: int) -> str:
    return roomstats.peak_viewers(stream_id)


def chat_count(stream_id: int) -> str:
    return roomstats.chat_messages(stream_id)


def reaction_count(stream_id: int | str) -> str:
    return roomstats.reactions(stream_id)


# --- gateway-wide state --------------------------------------------------------------------


def presence_nodes() -> str:
    """Sorted set node id -> last heartbeat (ms, Redis clock)."""
    return "gateway:nodes"


def node_rooms(node_id: str) -> str:
    return f"gateway:node:{node_id}:rooms"


def product_pins(product_id: int | str) -> str:
    """Set of stream ids in which a product is pinned (the relay's stock routing index).
    Tagged with the product's stock key (`shared.livedata.stock_key`, a name older than Redis
    Cluster support, kept because it outlives deploys) so the two share a slot."""
    return f"pins:{{{livedata.stock_key(int(product_id))}}}"


def control_channel(socketio_channel: str) -> str:
    """Pub/sub channel for node-to-node commands (kick, revoke) of one deployment."""
    return f"{socketio_channel}:control"


def relay_leader(events_stream: str, group: str) -> str:
    """The lease naming the one node that consumes the domain-event stream (relay.py)."""
    return f"{events_stream}:{group}:leader"
