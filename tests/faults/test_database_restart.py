"""MariaDB crashes (SIGKILL) in the middle of a flash sale and comes back by itself.

The API in this process runs on a private `mariadbd` (its own data directory and port) and a
private Redis. While buyers keep ordering, the database is killed, stays down for a moment and
is started again (InnoDB crash recovery). Checkout answers 201, 409 or 503 with Retry-After,
never 500; once the database answers, orders succeed again without restarting the API (the
pool pings a connection before lending it). Books: every committed order's units are gone from
stock exactly once (units ordered + stock left = stock at start) and every outbox row is
published.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from commerce.app import create_app
from commerce.context import AppContext
from shared.settings import CommerceSettings
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import order_body, stock_of
from tests.conftest import migrate
from tests.faults.conftest import books
from tests.faults.test_redis_outage import _units_ordered
from tests.faults.test_room_events import _unpublished
from tests.helpers.private_servers import PrivateMariaDB, private_mariadb

pytestmark = pytest.mark.timeout(120)

STOCK = 1000


@pytest.fixture
def fault_mariadb(tmp_path: Path) -> Iterator[PrivateMariaDB]:
    with private_mariadb(tmp_path / "mariadb") as server:
        server.execute("CREATE DATABASE lc CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        migrate(server.url("lc"))
        yield server


@pytest.fixture
async def db_ctx(
    fault_settings: CommerceSettings, fault_mariadb: PrivateMariaDB
) -> AsyncIterator[tuple[CommerceSettings, AppContext]]:
    settings = fault_settings.model_copy(update={
        "database_url": fault_mariadb.url("lc"), "database_connect_timeout_s": 1.0})
    context = AppContext.build(settings)
    yield settings, context
    await context.close()


async def test_checkout_across_a_database_crash(
    db_ctx: tuple[CommerceSettings, AppContext], fault_mariadb: PrivateMariaDB
) -> None:
    settings, ctx = db_ctx
    seller, _ = await make_user(ctx, role="seller")
    product = await make_product(ctx, seller, stock=STOCK)
    buyers = [await make_user(ctx) for _ in range(6)]
    statuses: Counter[int] = Counter()
    after_back: Counter[int] = Counter()
    bad: list[str] = []
    stop = asyncio.Event()
    marks = {"back": 0.0, "first_201": 0.0}
    app = create_app(settings, ctx=ctx)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as api,
    ):
        async def buyer(headers: dict[str, str]) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                reply = await api.post(
                    "/api/v1/orders", json=order_body((product.id, 1)),
                    headers={**headers, "Idempotency-Key": f"{headers['Authorization'][-9:]}{n}"})
                statuses[reply.status_code] += 1
                if marks["back"]:
                    after_back[reply.status_code] += 1
                    if reply.status_code == 201 and not marks["first_201"]:
                        marks["first_201"] = time.monotonic()
                if reply.status_code == 503:
                    assert reply.headers.get("retry-after"), reply.headers
                elif reply.status_code not in (201, 409, 429):  # 429: a buyer's own rate limit
                    bad.append(f"{reply.status_code} {reply.text[:200]}")
                await asyncio.sleep(0.03)

        tasks = [asyncio.create_task(buyer(h)) for _, h in buyers]
        while statuses[201] < 20:  # the sale is under way
            await asyncio.sleep(0.05)
        fault_mariadb.kill()
        await asyncio.sleep(1.5)
        down = Counter(statuses)
        restart_s = await asyncio.to_thread(fault_mariadb.start)
        marks["back"] = time.monotonic()
        await asyncio.sleep(2.5)
        stop.set()
        await asyncio.gather(*tasks)
        deadline = time.monotonic() + 15
        while await _unpublished(ctx) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    units = await _units_ordered(ctx, product.id)
    left = await stock_of(ctx, product.id)
    recovery_s = marks["first_201"] - marks["back"] if marks["first_201"] else float("nan")
    books("checkout across a MariaDB crash", answers=dict(statuses),
          after_back=dict(after_back), units_ordered=units, stock_left=left,
          stock_start=STOCK, unpublished=await _unpublished(ctx),
          mariadb_restart_s=round(restart_s, 2), first_201_after_back_s=round(recovery_s, 3))
    assert not bad, bad[:5]
    assert down[503] > 0
    assert after_back[201] > 0 and statuses[201] > after_back[201]
    assert units + left == STOCK
    assert await _unpublished(ctx) == 0
