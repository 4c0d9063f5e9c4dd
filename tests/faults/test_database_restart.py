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

import pytest

from commerce.context import AppContext
from shared.settings import CommerceSettings
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import stock_of
from tests.conftest import app_client, built_ctx, migrate
from tests.faults.conftest import FlashSale, books
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
    async with built_ctx(settings) as context:
        yield settings, context


async def test_checkout_across_a_database_crash(
    db_ctx: tuple[CommerceSettings, AppContext], fault_mariadb: PrivateMariaDB
) -> None:
    settings, ctx = db_ctx
    seller, _ = await make_user(ctx, role="seller")
    product = await make_product(ctx, seller, stock=STOCK)
    buyers = [await make_user(ctx) for _ in range(6)]
    async with app_client(settings, ctx) as api:
        sale = FlashSale(api, product.id, [h for _, h in buyers], pause_s=0.03)
        while sale.statuses[201] < 20:  # the sale is under way
            await asyncio.sleep(0.05)
        fault_mariadb.kill()
        # Down for at least 1.5 s, and until the buyers have met the outage: on a loaded
        # machine the requests in flight at the kill can take longer than that to be answered.
        await asyncio.sleep(1.5)
        await sale.until(lambda: sale.statuses[503] > 0, "a 503 during the outage")
        down = Counter(sale.statuses)
        restart_s = await asyncio.to_thread(fault_mariadb.start)
        sale.back()
        await sale.until(lambda: sale.after_back[201] > 0, "orders again after the restart")
        await sale.stop()
        deadline = time.monotonic() + 15
        while await _unpublished(ctx) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    units = await _units_ordered(ctx, product.id)
    left = await stock_of(ctx, product.id)
    books("checkout across a MariaDB crash", answers=dict(sale.statuses),
          after_back=dict(sale.after_back), units_ordered=units, stock_left=left,
          stock_start=STOCK, unpublished=await _unpublished(ctx),
          mariadb_restart_s=round(restart_s, 2), first_201_after_back_s=sale.recovery_s)
    assert not sale.bad, sale.bad[:5]
    assert down[503] > 0
    assert sale.after_back[201] > 0 and sale.statuses[201] > sale.after_back[201]
    assert units + left == STOCK
    assert await _unpublished(ctx) == 0
