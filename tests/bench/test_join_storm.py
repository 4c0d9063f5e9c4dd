"""No lost acks under a storm (issue 20): 500 clients connect over WebSocket and `join` one room
all at once on `make run`'s process (the embedded default: fakeredis, in-process bus), and every
one of them gets an ok join ack. Before the fix, 400 of 500 got none: the Redis stand-in's pool
raised under the burst and the handler's error path itself failed.

The storm comes from the benchmark's own tool (bench/fanout/joinstorm.js, raw Engine.IO/Socket.IO
over `ws`), which is cheap enough per connection to open 500 at once beside the server.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from tests.bench.conftest import BENCH, room_empties
from tests.helpers.procs import embedded_platform, run_checked
from tests.journey.script import register

CLIENTS = 500


async def test_every_joiner_of_a_storm_gets_its_ack(bench_deps: None, tmp_path: Path) -> None:
    with embedded_platform(f"sqlite+aiosqlite:///{tmp_path / 'storm.db'}",
                           BCRYPT_ROUNDS="4") as platform:
        async with httpx.AsyncClient(base_url=platform.api, timeout=20) as api:
            host = await register(api, "seller")
            created = await api.post("/api/v1/streams", headers=host.headers,
                                     json={"title": "Storm", "product_ids": []})
            assert created.status_code == 201, created.text
            stream_id = created.json()["id"]

        done = await asyncio.to_thread(
            run_checked,
            ["node", BENCH / "joinstorm.js", "--url", platform.gateway,
             "--stream-id", str(stream_id), "--clients", str(CLIENTS), "--timeout", "40"],
            cwd=BENCH, timeout=90,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["errors"] == [], result
        assert result["joined"] == CLIENTS, result
        assert result["refused"] == 0 and result["join_failed"] == 0, result

        # All 500 left again (joinstorm closes them): presence must not leak.
        await room_empties(platform.gateway, stream_id)

        platform.proc.check_alive()
        log = platform.proc.log()
        assert "Traceback" not in log and "handler_failed" not in log, platform.proc.describe()
        assert "disconnect_cleanup_failed" not in log, platform.proc.describe()
