"""Room and Redis key names: built here and nowhere else.

Lua scripts that must derive per-room keys from data they read (the presence sweeper, the
reaction flush) get templates from `template()` with `{room}` / `{node}` placeholders, so the
names still come from this module. Those scripts touch keys they were not handed, which is fine
on one Redis (or a primary with replicas) but not on Redis Cluster.
"""

from __future__ import annotations

from shared import roomstats

ROOM = "{room}"
NODE = "{node}"


def stream_room(stream_id: int) -> str:
    return f"stream:{stream_id}"


def user_room(user_id: int) -> str:
    """Every socket of a signed-in user joins this, so they can be reached (or dropped) at once."""
    return f"user:{user_id}"


def key(stream_id: int | str, what: str) -> str:
    """Redis key for a piece of a room's shared state, e.g. key(7, "chat")."""
    return f"room:{stream_id}:{what}"


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
    """Set of stream ids in which a product is pinned (the relay's stock routing index)."""
    return f"pins:product:{product_id}"


def control_channel(socketio_channel: str) -> str:
    """Pub/sub channel for node-to-node commands (kick, revoke) of one deployment."""
    return f"{socketio_channel}:control"


def relay_leader(events_stream: str, group: str) -> str:
    """The lease naming the one node that consumes the domain-event stream (relay.py)."""
    return f"{events_stream}:{group}:leader"
