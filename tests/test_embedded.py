"""`make run`'s process: the whole platform in one process on the embedded default."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import socketio

from tests.helpers.procs import embedded_platform


async def test_embedded_default_serves_both_services(tmp_path: Path) -> None:
    # A directory that does not exist yet, like var/ on a fresh clone.
    database = tmp_path / "fresh" / "var" / "embedded.db"
    with embedded_platform(f"sqlite+aiosqlite:///{database}") as platform:
        proc, api, gw = platform.proc, platform.api, platform.gateway
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{api}/docs")).status_code == 200
            assert (await http.get(f"{api}/readyz")).json()["status"] == "ready"
            assert (await http.get(f"{gw}/readyz")).json()["status"] == "ready"
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(gw, transports=["websocket"], wait_timeout=5)
        assert client.connected
        await client.disconnect()

        proc.popen.send_signal(signal.SIGINT)
        assert proc.popen.wait(20) == 0, proc.describe()
        assert "Traceback" not in proc.log(), proc.describe()
    assert database.exists()
