"""The gateway node that relays commerce's events is SIGKILLed mid-sale.

Two gateway nodes on one (private) Redis; the first holds the relay lease. It is killed while
buyers keep ordering in a live room; the other node takes the lease over, claims what the dead
one read and never acknowledged, and relays on. Books: the room's record holds exactly one
`order_placed` per committed order (an event the dead node had emitted but not acknowledged is
dropped by the room's dedup, not emitted twice), and the viewer on the surviving node keeps
receiving events; the takeover time is measured and printed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import Any

import httpx
import pytest

from commerce.context import AppContext
from commerce.streams import service as stream_service
from tests.commerce.factories import bearer, make_product, make_user
from tests.commerce.orders.helpers import make_stream
from tests.faults.conftest import FlashSale, books
from tests.faults.test_room_events import _committed_orders, _room_record, _unpublished
from tests.helpers.private_servers import PrivateRedis
from tests.helpers.procs import free_port, spawn, wait_http
from tests.realtime.clients import Client

pytestmark = pytest.mark.timeout(120)


async def test_relaying_gateway_killed_mid_sale_loses_and_doubles_nothing(
    fault_api: httpx.AsyncClient, fault_ctx: AppContext, fault_redis: PrivateRedis,
    service_env: dict[str, str],
) -> None:
    env = {**service_env, "REDIS_URL": fault_redis.url, "RESUME_MAX_EVENTS": "5000",
           "RESUME_MAX_AGE_S": "600", "RELAY_LEASE_MS": "2000", "RELAY_CLAIM_IDLE_MS": "2000"}
    ports = free_port(), free_port()
    seller, _ = await make_user(fault_ctx, role="seller")
    product = await make_product(fault_ctx, seller, stock=5000)
    stream_id = await make_stream(fault_ctx, seller.id)
    await stream_service.restore_live_data(fault_ctx)
    buyers = [await make_user(fault_ctx) for _ in range(6)]
    watcher, _ = await make_user(fault_ctx)
    token = bearer(fault_ctx, watcher)["Authorization"][7:]
    with spawn([sys.executable, "-m", "realtime", "--port", str(ports[0]), "--node-id", "g1"],
               name="gateway-1", env=env) as g1:
        wait_http(f"http://127.0.0.1:{ports[0]}/healthz", proc=g1, timeout=30)
        while "relay_leading" not in g1.log():
            await asyncio.sleep(0.05)
        with spawn([sys.executable, "-m", "realtime", "--port", str(ports[1]), "--node-id",
                    "g2"], name="gateway-2", env=env) as g2:
            url = f"http://127.0.0.1:{ports[1]}"
            wait_http(f"{url}/healthz", proc=g2, timeout=30)
            viewer = await Client("viewer").connect(url, token)
            await viewer.join(stream_id)
            sale = FlashSale(fault_api, product.id, [h for _, h in buyers],
                             stream_id=stream_id)
            await viewer.wait_for(lambda: len(viewer.of("order_placed")) >= 20, timeout=15)
            os.killpg(g1.pid, signal.SIGKILL)
            killed = time.monotonic()
            seen_at_kill = len(viewer.of("order_placed"))
            await viewer.wait_for(
                lambda: len(viewer.of("order_placed")) > seen_at_kill + 5, timeout=20)
            relaying_again_s = time.monotonic() - killed
            await asyncio.sleep(1.0)
            await sale.stop()

            orders = sorted(await _committed_orders(fault_ctx, stream_id))
            record: list[Any] = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                _, record = await _room_record(url, token, stream_id)
                if sorted({r["order_id"] for r in record}) == orders:
                    break
                await asyncio.sleep(0.2)
            complete_s = time.monotonic() - killed
            await viewer.close()
    ids = [r["order_id"] for r in record]
    books("relaying gateway SIGKILLed", answers=dict(sale.statuses), orders=len(orders),
          room_order_placed=len(ids), duplicates=len(ids) - len(set(ids)),
          missing=len(set(orders) - set(ids)), relaying_again_s=round(relaying_again_s, 2),
          room_complete_s=round(complete_s, 2))
    assert not sale.bad and set(sale.statuses) <= {201, 409, 429}, sale.statuses
    assert sorted(ids) == orders, "each committed order exactly once in the room"
    assert await _unpublished(fault_ctx) == 0
