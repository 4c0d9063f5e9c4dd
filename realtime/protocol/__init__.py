"""Engine.IO 4 and Socket.IO 5 as the protocol documents and the official test suites define them.

python-engineio 4.15.1 and python-socketio 5.18.1 deviate from the protocol (and from the Node
reference server) in ways a real client can hit: timers that never close a silent or broken
connection, a waiting poll that is never released, garbage that is logged instead of closing the
session, packets emitted in a `connect` handler that arrive before the CONNECT reply. The fixes
live here, as subclasses written so that each could go upstream as it is:

- `engine.EngineSocket` / `engine.EngineServer` (Engine.IO: handshake, heartbeat, polling,
  upgrade, close, packet validation, CORS);
- `sio.SocketServer` (Socket.IO: packet validation, unknown namespaces, connect timeout, packet
  order around the CONNECT reply);
- `manager.IndexedRooms` (a disconnect costs the socket's own rooms, not a scan of every room);
- `accept.GatewayRunner` (a new WebSocket is accepted without aiohttp's request machinery).

`docs/realtime.md` lists every fix with the clause of the protocol it follows, and the scores of
the official suites. The subclasses override private methods of the pinned versions (and
`engine.release_http_parser` drops two of aiohttp's private attributes; `accept` builds on
aiohttp's `Server`, `BaseProtocol` and WebSocket reader and writer), so importing this
package fails at once when any of the three libraries changes version under it
(`check_versions`).
"""

from __future__ import annotations

from importlib.metadata import version

# The versions these subclasses were written against and tested with (constraints.txt).
PINNED = {"aiohttp": "3.14.5", "python-engineio": "4.15.1", "python-socketio": "5.18.1"}


class ProtocolVersionError(ImportError):
    """A pinned library changed: re-read the overridden methods before bumping the pin."""


def check_versions(pinned: dict[str, str] = PINNED) -> None:
    for dist, expected in pinned.items():
        found = version(dist)
        if found != expected:
            raise ProtocolVersionError(
                f"realtime.protocol overrides internals of {dist}=={expected}, but {found} is "
                f"installed: check each override in realtime/protocol/ against the new version, "
                f"then update PINNED"
            )


check_versions()

from realtime.protocol.engine import EngineServer, EngineSocket, EngineWebSocket  # noqa: E402
from realtime.protocol.manager import IndexedRooms  # noqa: E402
from realtime.protocol.sio import SocketServer  # noqa: E402

__all__ = [
    "PINNED",
    "EngineServer",
    "EngineSocket",
    "EngineWebSocket",
    "IndexedRooms",
    "ProtocolVersionError",
    "SocketServer",
    "check_versions",
]
