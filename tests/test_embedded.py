"""`make run`'s process: the whole platform in one process on the embedded default."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import httpx
import socketio

from tests.helpers.procs import free_port, spawn, wait_http

# Variables that would switch the embedded default to real servers: removed for this test.
SERVER_VARS = ("REDIS_URL", "CELERY_BROKER_URL", "JWT_PRIVATE_KEY", "JWT_PUBLIC_KEY", "APP_ENV")


async def test_embedded_default_serves_both_services(tmp_path: Path) -> None:
    api_port, gw_port = free_port(), free_port()
    env: dict[str, str | None] = {v: None for v in SERVER_VARS}
    # A directory that does not exist yet, like var/ on a fresh clone.
    database = tmp_path / "fresh" / "var" / "embedded.db"
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
    with spawn(
        [sys.executable, "devserver.py", "--api-port", str(api_port),
         "--gateway-port", str(gw_port)],
        name="embedded",
        env=env,
    ) as proc:
        api = f"http://127.0.0.1:{api_port}"
        gw = f"http://127.0.0.1:{gw_port}"
        wait_http(f"{api}/healthz", proc=proc, timeout=60)
        wait_http(f"{gw}/healthz", proc=proc, timeout=30)
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
