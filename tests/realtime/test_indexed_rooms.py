"""`IndexedRooms` keeps python-socketio's room bookkeeping exactly as the library does.

The same random sequence of connects, room entries and leaves, room closes and disconnects runs
on python-socketio's own `AsyncManager` and on the gateway's `DirectFanout` (which carries the
index); after every step the two managers' rooms, pending lists and `get_rooms` answers must be
equal, and the index must name exactly the rooms each socket is in.
"""

from __future__ import annotations

import random
from typing import Any

import socketio

from realtime.transport import DirectFanout

NS = ["/", "/other"]


def snapshot(manager: Any) -> dict[str, Any]:
    return {
        "rooms": {ns: {room: dict(members) for room, members in rooms.items()}
                  for ns, rooms in manager.rooms.items()},
        "pending_connect": {ns: list(s) for ns, s in manager.pending_connect.items()},
        "pending_disconnect": {ns: list(s) for ns, s in manager.pending_disconnect.items()},
    }


def scanned_rooms(manager: Any) -> dict[tuple[str, str], set[Any]]:
    """Each socket's rooms found the library's way: by looking at every room."""
    found: dict[tuple[str, str], set[Any]] = {}
    for ns, rooms in manager.rooms.items():
        for room, members in rooms.items():
            for sid in members:
                found.setdefault((ns, sid), set()).add(room)
    return found


def test_the_index_matches_the_librarys_scan_through_random_operations() -> None:
    rng = random.Random(20)
    library, ours = socketio.AsyncManager(), DirectFanout()
    connected: list[tuple[str, str]] = []
    counter = 0
    for _ in range(3000):
        op = rng.random()
        if op < 0.25 or not connected:
            counter += 1
            sid, ns = f"s{counter}", rng.choice(NS)
            for m in (library, ours):
                m.basic_enter_room(sid, ns, None, eio_sid=f"e{counter}")
                m.basic_enter_room(sid, ns, sid, eio_sid=f"e{counter}")
                m.pending_connect.setdefault(ns, []).append(sid)
            connected.append((ns, sid))
        elif op < 0.5:
            ns, sid = rng.choice(connected)
            room = f"room{rng.randrange(8)}"
            for m in (library, ours):
                m.basic_enter_room(sid, ns, room)
        elif op < 0.7:
            ns, sid = rng.choice(connected)
            room = f"room{rng.randrange(8)}"
            for m in (library, ours):
                m.basic_leave_room(sid, ns, room)
        elif op < 0.75:
            room, ns = f"room{rng.randrange(8)}", rng.choice(NS)
            for m in (library, ours):
                m.basic_close_room(room, ns)
        else:
            ns, sid = connected.pop(rng.randrange(len(connected)))
            pending = rng.random() < 0.5
            for m in (library, ours):
                if pending:
                    m.pre_disconnect(sid, ns)
                m.basic_disconnect(sid, ns)
        assert snapshot(ours) == snapshot(library)
        for ns, sid in connected[-3:]:
            assert sorted(map(str, ours.get_rooms(sid, ns))) == \
                sorted(map(str, library.get_rooms(sid, ns)))
    index = {key: set(rooms) for key, rooms in ours._rooms_of_sid.items()}
    assert index == scanned_rooms(ours)
    assert connected  # the sequence ended with sockets still in rooms


def test_a_disconnect_leaves_every_room_and_nothing_of_the_socket() -> None:
    manager = DirectFanout()
    for i in range(3):
        manager.basic_enter_room(f"s{i}", "/", None, eio_sid=f"e{i}")
        manager.basic_enter_room(f"s{i}", "/", f"s{i}", eio_sid=f"e{i}")
        manager.basic_enter_room(f"s{i}", "/", "stream:1")
    manager.callbacks["s1"] = {1: print}
    manager.basic_disconnect("s1", "/")
    assert {room: set(m) for room, m in manager.rooms["/"].items()} == {
        None: {"s0", "s2"}, "s0": {"s0"}, "s2": {"s2"}, "stream:1": {"s0", "s2"}}
    assert "s1" not in manager.callbacks
    assert ("/", "s1") not in manager._rooms_of_sid
    for sid in ("s0", "s2"):
        manager.basic_disconnect(sid, "/")
    assert manager.rooms == {}
    assert manager._rooms_of_sid == {}
