"""Every key a gateway script touches together lives in one Redis Cluster slot.

Introspects the key builders (`realtime/rooms.py`, `shared/roomstats.py`): each function that
takes a stream id gives a key in that room's slot, and so do the templates scripts fill in.
The scripts themselves run on a real cluster in the cluster pass of the suite
(tests/cluster/), where redis-py refuses a script whose keys span slots.
"""

from __future__ import annotations

import inspect

from redis.crc import key_slot

from realtime import rooms
from shared import livedata, roomstats

STREAM = 7


def _room_builders() -> list[str]:
    keys = []
    for module in (rooms, roomstats):
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__ or name in {"stream_room", "user_room"}:
                continue
            params = list(inspect.signature(fn).parameters)
            if not params or params[0] != "stream_id":
                continue
            args = {"stream_id": STREAM, "what": "x", "user_id": 42, "node_id": "n1"}
            result = fn(**{p: args[p] for p in params})
            keys.extend(result if isinstance(result, list) else [result])
    return keys


def test_every_room_key_is_in_the_rooms_slot() -> None:
    keys = _room_builders()
    assert len(keys) >= 20  # the builders were found (chat, seq, viewers, stats, ...)
    assert {key_slot(k.encode()) for k in keys} == {key_slot(b"stream:7")}


def test_a_template_filled_in_gives_the_same_key() -> None:
    for what in ("viewers", "pin", "reactions", "seq"):
        filled = rooms.template(what).replace(rooms.ROOM, str(STREAM))
        assert filled == rooms.key(STREAM, what)


def test_rooms_of_different_streams_spread_over_slots() -> None:
    slots = {key_slot(rooms.chat_history(s).encode()) for s in range(1, 101)}
    assert len(slots) > 90


def test_the_pin_index_shares_the_stock_keys_slot() -> None:
    assert key_slot(rooms.product_pins(9).encode()) == key_slot(livedata.stock_key(9).encode())
