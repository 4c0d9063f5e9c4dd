"""The Locust smoke against `make run`'s process (embedded default): CI fails on any failure.

Also checks that the operational metrics the load produces are exposed on `/metrics`.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from loadtests.setup import create_fixture, write_fixture
from tests.helpers.procs import embedded_platform, wait_http
from tests.loadtests.runner import assert_clean_mixed_run, run_locust

METRICS_AFTER_LOAD = (
    "gateway_connected_sockets",
    "gateway_rooms",
    'gateway_events_in_total{event="react",result="ok"}',
    "gateway_events_out_total",
    "gateway_reactions_total",
    "gateway_chat_messages_total",
    "gateway_relay_pending ",
    "gateway_relay_pending_oldest_age_seconds",
    "gateway_relay_lag_seconds_bucket",
    'http_request_duration_seconds_bucket{le="0.05",method="POST",route="/orders"}',
    "orders_placed_total",
    "celery_task_outcomes_total",
)


async def test_locust_smoke_against_the_embedded_default(tmp_path: Path) -> None:
    with embedded_platform(
        f"sqlite+aiosqlite:///{tmp_path / 'load.db'}", BCRYPT_ROUNDS="4"
    ) as platform:
        proc, api, gw = platform.proc, platform.api, platform.gateway
        wait_http(f"{api}/readyz", proc=proc, timeout=60)
        wait_http(f"{gw}/readyz", proc=proc, timeout=30)
        fixture = write_fixture(await create_fixture(api, users=20), tmp_path / "fixture.json")

        run = run_locust(host=api, gateway=gw, fixture=fixture, workdir=tmp_path)

        assert_clean_mixed_run(run)
        async with httpx.AsyncClient() as http:
            exposed = (await http.get(f"{gw}/metrics")).text
        missing = [m for m in METRICS_AFTER_LOAD if m not in exposed]
        assert not missing, missing
        proc.popen.send_signal(signal.SIGINT)
        assert proc.popen.wait(20) == 0, proc.describe()
