"""An API process SIGKILLed mid-group-commit: its transaction is rolled back by the database,
and the units it had taken from the Redis stock gate are returned by the other processes'
`GateReconciler` within about a second, not the key's 30 s TTL.

Process A is a real `python -m commerce` on the test's MariaDB and Redis; the test holds the
product row's lock so A's checkouts stop inside their group commit, after taking every unit
from the gate, and kills A there. Buyers on process B (this test's in-process API) must then
buy the units promptly. The books: every unit sold once, none by the dead process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import func, select

from commerce.catalog.models import Product
from commerce.context import AppContext
from commerce.inventory.gate import key as gate_key
from commerce.orders.models import Order
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import order_body, stock_of
from tests.faults.conftest import books
from tests.helpers.procs import free_port, spawn, wait_http
from tests.helpers.waiting import until_true

pytestmark = pytest.mark.timeout(90)

UNITS = 3


async def test_units_a_killed_api_process_took_are_sold_promptly(
    api: httpx.AsyncClient, ctx: AppContext, service_env: dict[str, str]
) -> None:
    seller, _ = await make_user(ctx, role="seller")
    product = await make_product(ctx, seller, stock=UNITS)
    doomed = [h for _, h in [await make_user(ctx) for _ in range(UNITS)]]
    buyers = [h for _, h in [await make_user(ctx) for _ in range(UNITS)]]
    port = free_port()
    with spawn([sys.executable, "-m", "commerce", "--port", str(port)], name="commerce-a",
               env={**service_env, "LOG_LEVEL": "WARNING"}) as proc:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/healthz", proc=proc)
        async with ctx.sessions() as lock, lock.begin(), httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=30
        ) as client_a:
            # Hold the product row: A's checkouts take their units from the gate, then wait in
            # their group commit's UPDATE.
            await lock.execute(select(Product.id).where(Product.id == product.id)
                               .with_for_update())
            calls = [asyncio.create_task(client_a.post(
                "/api/v1/orders", json=order_body((product.id, 1)),
                headers={**h, "Idempotency-Key": f"doomed-{i}"})) for i, h in enumerate(doomed)]
            key = gate_key(product.id)

            async def gate_value() -> str | None:
                value = await ctx.redis.get(key)
                return None if value is None else str(int(value))

            deadline = time.monotonic() + 20
            while await gate_value() != "0":
                assert time.monotonic() < deadline, "A's checkouts never took the units"
                await asyncio.sleep(0.02)
            os.killpg(proc.pid, signal.SIGKILL)
            killed = time.monotonic()
            lost = await asyncio.gather(*calls, return_exceptions=True)
            assert all(isinstance(r, httpx.HTTPError) for r in lost), lost
            await lock.rollback()
        assert await gate_value() == "0"  # stranded: the database still holds all the units

    # Buyers on process B: sold out at first (the gate), then the units come back.
    statuses: Counter[int] = Counter()
    sold_at: list[float] = []

    async def buy(headers: dict[str, str]) -> None:
        n = 0
        while not sold_at or len(sold_at) < UNITS:
            n += 1
            reply = await api.post("/api/v1/orders", json=order_body((product.id, 1)),
                                   headers={**headers, "Idempotency-Key": f"after-{n}"})
            statuses[reply.status_code] += 1
            assert reply.status_code in (201, 409, 429), reply.text  # 429: the buyer's limit
            if reply.status_code == 201:
                sold_at.append(time.monotonic() - killed)
                return
            await asyncio.sleep(0.2 if reply.status_code == 429 else 0.05)

    await asyncio.wait_for(asyncio.gather(*(buy(h) for h in buyers)), timeout=10)
    await until_true(lambda: len(sold_at) == UNITS, "every unit sold")
    async with ctx.sessions() as session:
        orders = int(await session.scalar(select(func.count()).select_from(Order)) or 0)
    left = await stock_of(ctx, product.id)
    books("API process SIGKILLed mid-group-commit", answers_after=dict(statuses),
          orders=orders, stock_left=left, stock_start=UNITS,
          first_sale_after_kill_s=round(min(sold_at), 2),
          all_sold_after_kill_s=round(max(sold_at), 2))
    assert orders == UNITS and left == 0  # A committed nothing; B sold every unit once
    assert max(sold_at) < 10  # the key's TTL (30 s) would have left them stranded
