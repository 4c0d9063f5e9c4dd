"""An API process started while Redis is down serves anyway, and uses Redis once it appears.

A real `python -m commerce` is started against a private Redis that is not running yet: the
start-up check logs the unreachable Redis instead of exiting, `/readyz` answers 503 naming
Redis, and the checkout sells from the database (commerce/orders/checkout/degraded.py). Then
the private `redis-server` starts on that port: readiness turns 200, the outage's probe sets
the success marker owed for the order placed meanwhile, and the next order goes through the
stock gate again (its key appears in Redis), all without a restart of the API.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx
import pytest

from commerce.context import AppContext
from commerce.inventory.gate import key as gate_key
from commerce.orders.checkout.answers import marker_key
from shared.cli import check_redis
from shared.errors import ConfigError
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import order_body
from tests.conftest import single_redis_only
from tests.faults.conftest import books
from tests.helpers.private_servers import PrivateRedis
from tests.helpers.procs import free_port, spawn, wait_http
from tests.helpers.waiting import until_true

pytestmark = pytest.mark.timeout(120)


async def test_api_starts_without_redis_and_uses_it_once_it_answers(
    ctx: AppContext, service_env: dict[str, str], tmp_path: Path
) -> None:
    seller, _ = await make_user(ctx, "seller")
    product = await make_product(ctx, seller, stock=10)
    buyer, headers = await make_user(ctx)
    redis = PrivateRedis(tmp_path / "redis")  # its port chosen, the server not started
    port = free_port()
    env = {**service_env, "REDIS_URL": redis.url}
    try:
        with spawn([sys.executable, "-m", "commerce", "--port", str(port)], name="api",
                   env=env) as api_proc:
            base = f"http://127.0.0.1:{port}"
            began = time.monotonic()
            await asyncio.to_thread(wait_http, f"{base}/healthz", proc=api_proc, timeout=60)
            started_s = time.monotonic() - began
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                unready = await http.get("/readyz")
                serving = await http.get("/readyz", params={"degraded": "ok"})
                body = order_body((product.id, 1))
                keyed = {**headers, "Idempotency-Key": "placed-before-redis-ever-answered"}
                during = await http.post("/api/v1/orders", json=body, headers=keyed)

                await asyncio.to_thread(redis.start)
                back = time.monotonic()
                marker = marker_key(buyer.id, "placed-before-redis-ever-answered")
                owed = redis.client()
                await until_true(lambda: bool(owed.exists(marker)),
                                 "the owed marker to be set (the checkout back on Redis)",
                                 timeout=30, every=0.05)
                on_redis_s = time.monotonic() - back
                ready = await http.get("/readyz")
                after = await http.post("/api/v1/orders", json=body, headers=headers)
                gated = bool(owed.exists(gate_key(product.id)))
                owed.close()
    finally:
        redis.kill()
    books("API started without Redis", started_s=round(started_s, 1),
          readyz_before=unready.status_code, order_before=during.status_code,
          checkout_on_redis_after_start_s=round(on_redis_s, 2), readyz_after=ready.status_code,
          order_after=after.status_code, gate_key_loaded=gated)
    assert "redis_unreachable_at_start" in api_proc.log()
    assert unready.status_code == 503, unready.text
    assert unready.json()["checks"]["redis"].startswith("error"), unready.text
    # What a load balancer asks: the process serves (from the database) while Redis is down.
    assert serving.status_code == 200, serving.text
    assert serving.json()["checks"]["redis"].startswith("error"), serving.text
    assert unready.json()["checks"]["database"] == "ok"
    assert during.status_code == 201, during.text
    assert ready.status_code == 200, ready.text
    assert after.status_code == 201 and after.json()["id"] != during.json()["id"], after.text
    assert gated, "the order after Redis appeared did not go through the stock gate"


@single_redis_only
async def test_start_up_check_tolerates_only_an_unreachable_redis(redis_url: str) -> None:
    """Down is survivable (the message comes back to be logged); refused credentials are a
    configuration error that no waiting heals: the API still refuses to start on them."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    assert "cannot reach Redis" in (await check_redis(dead, unreachable_ok=True) or "")
    with pytest.raises(ConfigError):
        await check_redis(dead)
    wrong = redis_url.replace("redis://", "redis://nobody:wrong@", 1)
    with pytest.raises(ConfigError, match="username-password"):
        await check_redis(wrong, unreachable_ok=True)
