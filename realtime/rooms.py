"""Room and Redis key names: built here and nowhere else."""

from __future__ import annotations


def stream_room(stream_id: int) -> str:
    return f"stream:{stream_id}"


def user_room(user_id: int) -> str:
    """Every socket of a signed-in user joins this, so they can be reached (or dropped) at once."""
    return f"user:{user_id}"


def key(stream_id: int, what: str) -> str:
    """Redis key for a piece of a room's shared state, e.g. key(7, "chat")."""
    return f"room:{stream_id}:{what}"
