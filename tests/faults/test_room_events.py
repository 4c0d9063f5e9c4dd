"""Redis crashes (or loses everything) in the middle of a flash sale in a live room.

The platform here: the API in this process, a gateway node as its own process, both on a
private Redis (AOF everysec) that the test SIGKILLs mid-sale and starts again, once from its
AOF ("crash") and once with its data directory emptied ("wiped": a Redis that lost everything).
Buyers keep ordering through the outage. The books, checked at the end:
- the room's record (its resume log) holds exactly one `order_placed` per committed order of
  the stream, none missing, none twice: the outbox relay noticed what the stream lost and
  published it again, and the room's dedup dropped what it already had;
- units ordered plus stock left equal the stock the sale started with; no outbox row is left
  unpublished;
- the viewer who watched through the crash gets `reload` (not `not_found`) when it resumes
  from its last (epoch, seq), and the room's epoch changed;
- the API answered only 201, 409 or 503 throughout, and the room recovered within a time the
  test measures and prints.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from commerce.context import AppContext
from commerce.orders.models import Order
from commerce.outbox import OutboxEvent
from commerce.streams import service as stream_service
from tests.commerce.factories import bearer, make_product, make_user
from tests.commerce.orders.helpers import make_stream, stock_of
from tests.faults.conftest import FlashSale, books, marks_restored
from tests.faults.test_redis_outage import _units_ordered
from tests.helpers.private_servers import PrivateRedis
from tests.realtime.clients import Client

pytestmark = pytest.mark.timeout(120)

STOCK = 5000


async def _room_record(url: str, token: str, stream_id: int) -> tuple[dict[str, Any], list[Any]]:
    c = await Client("auditor").connect(url, token)
    try:
        joined = await c.join(stream_id)
        ack = await c.call("resume", {"stream_id": stream_id, "since_seq": 0,
                                      "epoch": joined["epoch"]})
    finally:
        await c.close()
    assert ack["ok"], ack
    return joined, [m["data"] for m in ack["missed"] if m["event"] == "order_placed"]


async def _committed_orders(ctx: AppContext, stream_id: int) -> list[int]:
    async with ctx.sessions() as session:
        return list(await session.scalars(select(Order.id).where(Order.stream_id == stream_id)))


async def _unpublished(ctx: AppContext) -> int:
    async with ctx.sessions() as session:
        return int(await session.scalar(
            select(func.count()).select_from(OutboxEvent)
            .where(OutboxEvent.published_at.is_(None))) or 0)


@pytest.mark.parametrize("fault", ["crash", "wiped"])
async def test_redis_crash_mid_sale_loses_no_room_event(
    fault: str, fault_api: httpx.AsyncClient, fault_ctx: AppContext,
    fault_redis: PrivateRedis, fault_gateway: str,
) -> None:
    seller, _ = await make_user(fault_ctx, role="seller")
    product = await make_product(fault_ctx, seller, stock=STOCK)
    stream_id = await make_stream(fault_ctx, seller.id)
    await stream_service.restore_live_data(fault_ctx)  # the gateway's view, as on create
    buyers = [await make_user(fault_ctx) for _ in range(6)]
    watcher_user, _ = await make_user(fault_ctx)
    token = bearer(fault_ctx, watcher_user)["Authorization"][7:]
    await marks_restored(fault_ctx)
    viewer = await Client("viewer").connect(fault_gateway, token)
    joined = await viewer.join(stream_id)

    sale = FlashSale(fault_api, product.id, [h for _, h in buyers], stream_id=stream_id)
    await viewer.wait_for(lambda: len(viewer.of("order_placed")) >= 20, timeout=15)
    last_seen = viewer.of("order_placed")[-1]
    fault_redis.kill()
    await asyncio.sleep(1.0)
    if fault == "wiped":
        shutil.rmtree(fault_redis.dir)
        fault_redis.dir.mkdir()
    await asyncio.to_thread(fault_redis.start)
    back_at = time.monotonic()
    await asyncio.sleep(1.5)
    await sale.stop()

    # Recovery: the room's record holds every committed order of the stream.
    orders = sorted(await _committed_orders(fault_ctx, stream_id))
    record: list[Any] = []
    joined_after: dict[str, Any] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            joined_after, record = await _room_record(fault_gateway, token, stream_id)
        except Exception:  # the gateway's own Redis connections may still be reconnecting
            record = []
        if sorted({r["order_id"] for r in record}) == orders and not await _unpublished(
            fault_ctx
        ):
            break
        await asyncio.sleep(0.2)
    recovered_s = time.monotonic() - back_at
    resume = await viewer.call("resume", {"stream_id": stream_id,
                                          "since_seq": last_seen["seq"],
                                          "epoch": last_seen["epoch"]})
    await viewer.close()

    units = await _units_ordered(fault_ctx, product.id)
    left = await stock_of(fault_ctx, product.id)
    ids = [r["order_id"] for r in record]
    books(f"room across a Redis {fault}", answers=dict(sale.statuses), orders=len(orders),
          room_order_placed=len(ids), duplicates=len(ids) - len(set(ids)),
          missing=len(set(orders) - set(ids)), units_ordered=units, stock_left=left,
          unpublished=await _unpublished(fault_ctx), epoch_before=joined["epoch"],
          epoch_after=joined_after.get("epoch"), room_recovered_s=round(recovered_s, 2))
    assert not sale.bad, sale.bad[:5]
    assert 0 < sale.statuses[201] <= len(orders)
    assert sorted(ids) == orders, "each committed order exactly once in the room"
    assert units + left == STOCK
    assert await _unpublished(fault_ctx) == 0
    assert joined_after["epoch"] != joined["epoch"]
    assert resume["ok"] and "reload" in resume, resume
    assert resume["reload"]["epoch"] == joined_after["epoch"]
