"""A payment notification that arrives while the broker is down settles within seconds of the
broker returning, and the provider gets its expected answer at once (not a 500).

The broker is a private Redis here (Celery's Redis transport; production runs RabbitMQ, and the
path under test, the task intent committed with the notification and sent by the API's task
relay, is the same for both): the test SIGKILLs it, delivers the signed ECPay notification,
starts the broker again and measures how long the order takes to become paid, with a real
Celery worker process settling it.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from commerce.context import AppContext
from commerce.orders.models import Order
from commerce.task_outbox import TaskIntent
from shared.settings import CommerceSettings
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import order_body
from tests.commerce.payments.helpers import provider_urls
from tests.conftest import app_client, built_ctx
from tests.fakes.payments.ecpay import FakeEcpay
from tests.faults.conftest import books
from tests.helpers.private_servers import PrivateRedis, private_redis
from tests.helpers.procs import spawn

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateRedis]:
    with private_redis(tmp_path / "broker") as server:
        yield server


@pytest.fixture
def broker_settings(
    fault_settings: CommerceSettings, broker: PrivateRedis, fake_ecpay: FakeEcpay
) -> CommerceSettings:
    return fault_settings.updated(
        celery_broker_url=broker.url, payments=provider_urls(ecpay=fake_ecpay)
    )


@pytest.fixture
async def broker_ctx(broker_settings: CommerceSettings) -> AsyncIterator[AppContext]:
    async with built_ctx(broker_settings) as context:
        yield context


async def _order_status(ctx: AppContext, order_id: int) -> str:
    async with ctx.sessions() as session:
        return str(await session.scalar(select(Order.status).where(Order.id == order_id)))


async def _unsent(ctx: AppContext) -> int:
    async with ctx.sessions() as session:
        return int(await session.scalar(
            select(func.count()).select_from(TaskIntent).where(TaskIntent.sent_at.is_(None))
        ) or 0)


async def test_notification_during_broker_outage_settles_after_it(
    broker_settings: CommerceSettings, broker_ctx: AppContext, broker: PrivateRedis,
    fake_ecpay: FakeEcpay, service_env: dict[str, str],
) -> None:
    ctx = broker_ctx
    seller, _ = await make_user(ctx, "seller")
    _, buyer = await make_user(ctx)
    product = await make_product(ctx, seller, price="1290.00", currency="TWD", stock=5)
    env = {**service_env, "REDIS_URL": broker_settings.redis_url or "",
           "CELERY_BROKER_URL": broker.url, "ECPAY_BASE_URL": fake_ecpay.base_url}
    with spawn([sys.executable, "-m", "celery", "-A", "commerce.worker", "worker", "--pool",
                "solo", "-Q", "payments", "-n", f"fault-{uuid.uuid4().hex[:6]}@%h",
                "--without-gossip", "--without-mingle", "-l", "info"],
               name="celery-payments", env=env) as worker:
        # Measured from the broker's return, so the worker must be up first: on a loaded
        # machine its start alone took 20 s and the settlement missed the 10 s bound.
        deadline = time.monotonic() + 90
        while " ready." not in worker.log():
            worker.check_alive()
            assert time.monotonic() < deadline, worker.log_tail()
            await asyncio.sleep(0.1)
        async with app_client(broker_settings, ctx) as api, httpx.AsyncClient() as web:
            order = await api.post("/api/v1/orders", headers=buyer,
                                   json=order_body((product.id, 1)))
            assert order.status_code == 201, order.text
            order_id = order.json()["id"]
            pay = await api.post(f"/api/v1/orders/{order_id}/payments",
                                 json={"method": "ecpay"}, headers=buyer)
            assert pay.status_code == 201, pay.text
            action = pay.json()["action"]
            assert (await web.post(action["url"], data=action["fields"])).status_code == 200
            headers, body = fake_ecpay.notification(action["fields"]["MerchantTradeNo"])

            broker.kill()
            answer = await api.post("/api/v1/payments/webhooks/ecpay", content=body,
                                    headers=headers)
            assert (answer.status_code, answer.text) == (200, "1|OK")
            await asyncio.sleep(2.0)
            unsent_during = await _unsent(ctx)
            status_during = await _order_status(ctx, order_id)
            await asyncio.to_thread(broker.start)
            back = time.monotonic()
            while await _order_status(ctx, order_id) != "paid":
                worker.check_alive()
                assert time.monotonic() - back < 30, worker.log_tail()
                await asyncio.sleep(0.1)
            settled_s = time.monotonic() - back
    books("notification during a broker outage", answer=answer.text,
          intents_unsent_during=unsent_during, status_during=status_during,
          settled_after_broker_back_s=round(settled_s, 2))
    assert unsent_during == 1 and status_during == "pending_payment"
    assert settled_s < 10
    assert await _unsent(ctx) == 0
