"""A per-socket room index for python-socketio's client managers.

python-socketio's `BaseManager.basic_disconnect` finds the rooms of the socket that leaves by
testing every room of the namespace for it, and every socket has a room of its own (its sid), so
one disconnect costs one test per connected socket: N sockets leaving cost N²/2. When the
10,000 clients of a join storm closed at the end (a stream ends, a cell tower drops its phones),
that scan was 43 % of the gateway's event-loop samples for the whole storm (py-spy, BENCHMARKS.md
issue 20, session 8), and `get_rooms` scans the same way. `IndexedRooms` keeps, per namespace
and socket, the rooms it is in (in the order it entered them, as the library's scan finds them
in the namespace's room order, which starts with the same `None` and sid rooms), maintained in
the two methods through which every room change goes (`basic_enter_room`, `basic_leave_room`;
`basic_close_room` and `basic_disconnect` go through the latter), so a disconnect costs the
socket's own rooms only.

Everything else `basic_disconnect` does is the library's (python-socketio 5.18.1, checked by
`realtime.protocol.check_versions`).
"""

from __future__ import annotations

from typing import Any


class IndexedRooms:
    """Mixed in before `socketio.AsyncManager` (its `BaseManager` holds `rooms`)."""

    rooms: dict[str, dict[Any, Any]]
    callbacks: dict[str, Any]
    pending_connect: dict[str, list[str]]
    pending_disconnect: dict[str, list[str]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (namespace, sid) -> the socket's rooms, in the order it entered them (a dict as an
        # ordered set)
        self._rooms_of_sid: dict[tuple[str, str], dict[Any, None]] = {}

    def basic_enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        self._rooms_of_sid.setdefault((namespace, sid), {})[room] = None

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)  # type: ignore[misc]
        key = (namespace, sid)
        held = self._rooms_of_sid.get(key)
        if held is not None:
            held.pop(room, None)
            if not held:
                del self._rooms_of_sid[key]

    def basic_disconnect(self, sid: str, namespace: str, **_kwargs: Any) -> None:
        """`BaseManager.basic_disconnect`, with the socket's rooms from the index."""
        if namespace not in self.rooms:
            return
        for room in list(self._rooms_of_sid.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self._rooms_of_sid.pop((namespace, sid), None)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids is not None and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        """The rooms a client is in (not its `None` entry), from the index."""
        return [r for r in self._rooms_of_sid.get((namespace, sid), ()) if r is not None]
