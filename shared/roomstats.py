"""Redis keys of a room's live counters: the gateway writes them, commerce's analytics reads
them (so the names live here, beside both; `realtime/rooms.py` re-exports them).

- `room:{id}:viewers`: hash member -> nodes holding it; HLEN is the exact viewer count;
- `room:{id}:uniques`: HyperLogLog of distinct viewers (signed-in users and guest sockets);
- `room:{id}:uniques:users`: HyperLogLog of distinct signed-in viewers (conversion's base);
- `room:{id}:stats:peak`: the highest viewer count seen;
- `room:{id}:stats:chat`, `room:{id}:stats:reactions`: messages and reactions accepted.

Pass `"{room}"` as the stream id to get a template for Lua scripts.
"""

from __future__ import annotations


def viewers(stream_id: int | str) -> str:
    return f"room:{stream_id}:viewers"


def uniques(stream_id: int | str) -> str:
    return f"room:{stream_id}:uniques"


def signed_in_uniques(stream_id: int | str) -> str:
    return f"room:{stream_id}:uniques:users"


def peak_viewers(stream_id: int | str) -> str:
    return f"room:{stream_id}:stats:peak"


def chat_messages(stream_id: int | str) -> str:
    return f"room:{stream_id}:stats:chat"


def reactions(stream_id: int | str) -> str:
    return f"room:{stream_id}:stats:reactions"


def all_keys(stream_id: int) -> list[str]:
    return [uniques(stream_id), signed_in_uniques(stream_id), peak_viewers(stream_id),
            chat_messages(stream_id), reactions(stream_id)]
