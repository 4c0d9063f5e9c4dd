"""The issue's "done when": the whole live sale on `make run`'s embedded default (SQLite, the
in-process bus and Redis stand-in, tasks in-process, every provider a local sandbox), driven
over real HTTP and real socket.io clients with no network."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.helpers.procs import embedded_platform
from tests.journey.script import run_journey


async def test_whole_live_sale_on_the_embedded_default(tmp_path: Path) -> None:
    # Nine orders, each paid as it is placed but settled by a task: more than
    # MAX_UNPAID_ORDERS_PER_BUYER's default may be unpaid for a moment (not this test's point).
    with embedded_platform(f"sqlite+aiosqlite:///{tmp_path / 'journey.db'}",
                           BCRYPT_ROUNDS="4", MAX_UNPAID_ORDERS_PER_BUYER="20") as platform:
        async with httpx.AsyncClient(base_url=platform.api, timeout=20) as api:
            await run_journey(api, platform.gateway)
        platform.proc.check_alive()
        assert "Traceback" not in platform.proc.log(), platform.proc.describe()
