"""Redis keys of a room's live counters: the gateway writes them, commerce's analytics reads
them (so the names live here, beside both; `realtime/rooms.py` re-exports them).

Every key of a room is `room:{stream:<id>}:<what>`: the hash tag `{stream:<id>}` puts all of a
room's keys in one Redis Cluster slot, so a script may touch any of them together.

- `room:{stream:<id>}:viewers`: hash member -> nodes holding it; HLEN is the exact count;
- `...:uniques`: HyperLogLog of distinct viewers (signed-in users and guest sockets);
- `...:uniques:users`: HyperLogLog of distinct signed-in viewers (conversion's base);
- `...:stats:peak`: the highest viewer count seen;
- `...:stats:chat`, `...:stats:reactions`: messages and reactions accepted.

Pass `"{room}"` as the stream id to get a template for Lua scripts.
"""

from __future__ import annotations


def room_key(stream_id: int | str, what: str) -> str:
    """The key of one piece of a room's state, tagged with the room's slot (see above)."""
    return f"room:{{stream:{stream_id}}}:{what}"


def viewers(stream_id: int | str) -> str:
    return room_key(stream_id, "viewers")


def uniques(stream_id: int | str) -> str:
    return room_key(stream_id, "uniques")


def signed_in_uniques(stream_id: int | str) -> str:
    return room_key(stream_id, "uniques:users")


def peak_viewers(stream_id: int | str) -> str:
    return room_key(stream_id, "stats:peak")


def chat_messages(stream_id: int | str) -> str:
    return room_key(stream_id, "stats:chat")


def reactions(stream_id: int | str) -> str:
    return room_key(stream_id, "stats:reactions")


def all_keys(stream_id: int) -> list[str]:
    return [uniques(stream_id), signed_in_uniques(stream_id), peak_viewers(stream_id),
            chat_messages(stream_id), reactions(stream_id)]
