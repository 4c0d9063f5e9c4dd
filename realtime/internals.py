"""A guard for the library internals the gateway relies on (`realtime.transport`).

The transport tuning reaches past the public API of python-engineio and python-socketio: it
replaces the aiohttp driver's WebSocket class through `AsyncServer.eio._async` (no switch for
permessage-deflate), attaches `direct_transport` to Engine.IO sockets from inside that
driver's `__call__`, subclasses `AsyncManager.emit`, and reads `asyncio.Queue._getters` to
know a socket's writer is idle. Those parts were read and tested against the versions in
`PINNED`. A different version may move them without an error at first, and the failure would
show as lost or reordered frames under load. So importing the transport fails at once, with
this module's message, when the installed versions are not the ones checked; re-read the
internals (and run tests/realtime) before moving a pin here and in pyproject.toml.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import version

# Keep in step with pyproject.toml's pins.
PINNED: Mapping[str, str] = {"python-engineio": "4.15.1", "python-socketio": "5.18.1"}


class InternalsChanged(ImportError):
    """The libraries under the gateway's transport tuning are not the ones it was checked on."""


def check(installed: Callable[[str], str] = version) -> None:
    """Raise `InternalsChanged` unless the pinned versions are installed and asyncio's queue
    still keeps its waiting getters where `transport.direct_transport` looks."""
    changed = {name: installed(name) for name, pin in PINNED.items() if installed(name) != pin}
    if changed:
        found = ", ".join(
            f"{name} {got} (checked: {PINNED[name]})" for name, got in changed.items()
        )
        raise InternalsChanged(
            f"realtime.transport relies on private internals of {found}; re-check them "
            "(see realtime/internals.py) before changing the pin"
        )
    if not isinstance(getattr(asyncio.Queue(), "_getters", None), Iterable):
        raise InternalsChanged(
            "asyncio.Queue no longer keeps its waiting getters in `_getters`, which "
            "realtime.transport.direct_transport reads"
        )

