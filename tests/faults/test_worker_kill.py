"""A Celery worker SIGKILLed mid-settlement: the payment settles once, by the next worker.

Production's broker (RabbitMQ, the machine's shared one: run under `flock /tmp/lc-rabbit.lock`,
it consumes the shared `payments` queue) and a real worker process (`--pool solo`). The test
holds the order's row lock, so the worker's settlement transaction stops after locking the
payment and the notification, at the order's `pending_payment -> paid` UPDATE; the worker is
SIGKILLed there. The database rolls its transaction back; RabbitMQ requeues the unacknowledged
task (`acks_late`) when the worker's connection drops, and a second worker settles it. The
books: the order paid once, one succeeded payment, one `order.paid` event, the notification
processed once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest
from sqlalchemy import func, select, text

from commerce.context import AppContext
from commerce.orders.models import Order
from commerce.payments.models import Payment, PaymentNotification
from shared.settings import CommerceSettings
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import events, order_body
from tests.commerce.payments.helpers import provider_urls
from tests.conftest import app_client, built_ctx
from tests.fakes.payments.ecpay import FakeEcpay
from tests.faults.conftest import books
from tests.helpers.procs import spawn

pytestmark = [pytest.mark.timeout(240), pytest.mark.shared_rabbitmq]

BROKER = "amqp://guest:guest@127.0.0.1:5672//"


def _worker(env: dict[str, str], name: str) -> Sequence[str]:
    return [sys.executable, "-m", "celery", "-A", "commerce.worker", "worker", "--pool", "solo",
            "-Q", "payments", "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h", "--without-gossip",
            "--without-mingle", "-l", "info"]


# InnoDB rebuilds information_schema.innodb_trx only when it was last read more than 100 ms ago
# (trx_i_s_cache, CACHE_MIN_IDLE_TIME_US), and every read moves that mark: polled every 50 ms,
# it kept showing the snapshot from before the worker queued, for the whole 90 s (failed CI).
INNODB_TRX_REFRESH_S = 0.25


async def _waiting_on_lock(ctx: AppContext, database: str) -> int:
    """Transactions of this test's database waiting for a row lock (the worker's)."""
    async with ctx.sessions() as session:
        return int(await session.scalar(text(
            "SELECT COUNT(*) FROM information_schema.innodb_trx t "
            "JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id "
            "WHERE t.trx_state = 'LOCK WAIT' AND p.db = :db"), {"db": database}) or 0)


@pytest.fixture
async def pay_ctx(
    commerce_settings: CommerceSettings, service_env: dict[str, str], fake_ecpay: FakeEcpay
) -> AsyncIterator[AppContext]:
    settings = commerce_settings.updated(
        celery_broker_url=BROKER, payments=provider_urls(ecpay=fake_ecpay))
    async with built_ctx(settings) as context:
        yield context


async def test_worker_killed_mid_settlement_pays_once(
    pay_ctx: AppContext, service_env: dict[str, str], fake_ecpay: FakeEcpay, db_name: str,
) -> None:
    ctx, settings = pay_ctx, pay_ctx.settings
    # The killed worker waits on our row lock while the next one starts (seconds, more on a busy
    # machine): its session's lock wait must outlast that start (MariaDB's default is 50 s).
    patient = (service_env["DATABASE_URL"]
               + "?init_command=SET+SESSION+innodb_lock_wait_timeout%3D600")
    env = {**service_env, "CELERY_BROKER_URL": BROKER, "ECPAY_BASE_URL": fake_ecpay.base_url,
           "DATABASE_URL": patient}
    seller, _ = await make_user(ctx, "seller")
    _, buyer = await make_user(ctx)
    product = await make_product(ctx, seller, price="1290.00", currency="TWD", stock=5)
    async with app_client(settings, ctx) as api, httpx.AsyncClient() as web:
        order = await api.post("/api/v1/orders", headers=buyer, json=order_body((product.id, 1)))
        assert order.status_code == 201, order.text
        order_id = order.json()["id"]
        pay = await api.post(f"/api/v1/orders/{order_id}/payments", json={"method": "ecpay"},
                             headers=buyer)
        assert pay.status_code == 201, pay.text
        action = pay.json()["action"]
        assert (await web.post(action["url"], data=action["fields"])).status_code == 200
        headers, body = fake_ecpay.notification(action["fields"]["MerchantTradeNo"])

        async with ctx.sessions() as lock, lock.begin():
            await lock.execute(select(Order.id).where(Order.id == order_id).with_for_update())
            with spawn(_worker(env, "doomed"), name="celery-doomed", env=env) as doomed:
                answer = await api.post("/api/v1/payments/webhooks/ecpay", content=body,
                                        headers=headers)
                assert (answer.status_code, answer.text) == (200, "1|OK")
                deadline = time.monotonic() + 90
                while not await _waiting_on_lock(ctx, db_name):
                    doomed.check_alive()
                    assert time.monotonic() < deadline, doomed.log_tail()
                    await asyncio.sleep(INNODB_TRX_REFRESH_S)
                # The heir is up before the kill (a worker takes seconds to start), so what is
                # measured is the broker's redelivery and the settlement.
                with spawn(_worker(env, "heir"), name="celery-heir", env=env) as heir:
                    deadline = time.monotonic() + 90  # a worker's start on a busy machine
                    while " ready." not in heir.log():
                        heir.check_alive()
                        assert time.monotonic() < deadline, heir.log_tail()
                        await asyncio.sleep(0.1)
                    os.killpg(doomed.pid, signal.SIGKILL)
                    killed = time.monotonic()
                    await asyncio.to_thread(doomed.popen.wait, 10)
                    await lock.rollback()
                    while await _status(ctx, order_id) != "paid":
                        heir.check_alive()
                        assert time.monotonic() - killed < 30, heir.log_tail()
                        await asyncio.sleep(0.05)
                    paid_s = time.monotonic() - killed

    async with ctx.sessions() as session:
        succeeded = int(await session.scalar(select(func.count()).select_from(Payment).where(
            Payment.order_id == order_id, Payment.status == "succeeded")) or 0)
        processed = (await session.execute(select(
            PaymentNotification.result, PaymentNotification.processed_at))).all()
    paid_events = await events(ctx, "order.paid")
    books("worker SIGKILLed mid-settlement", succeeded_payments=succeeded,
          order_paid_events=len(paid_events),
          notifications=[r.result for r in processed], paid_after_kill_s=round(paid_s, 2))
    assert succeeded == 1 and len(paid_events) == 1
    assert [r.result for r in processed] == ["paid"]


async def _status(ctx: AppContext, order_id: int) -> str:
    async with ctx.sessions() as session:
        return str(await session.scalar(select(Order.status).where(Order.id == order_id)))
