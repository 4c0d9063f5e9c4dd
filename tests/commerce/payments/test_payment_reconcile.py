"""The reconciliation safety nets: a lost ECPay notification is found by QueryTradeInfo, and
a stored notification whose task never ran is picked up again."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from commerce.context import AppContext
from commerce.db import utcnow
from commerce.orders.models import Order
from commerce.payments import reconcile, settlement, tasks
from commerce.payments.gateways.base import ParsedNotification
from commerce.payments.models import Payment
from commerce.tasks import BEAT
from commerce.worker import TASK_MODULES
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import events, order_body
from tests.fakes.payments.ecpay import FakeEcpay


async def _pending_ecpay(
    api: httpx.AsyncClient, ctx: AppContext, fake: FakeEcpay
) -> tuple[int, Payment]:
    seller, _ = await make_user(ctx, "seller")
    _, buyer = await make_user(ctx)
    product = await make_product(ctx, seller, price="990.00", currency="TWD", stock=2)
    order = (await api.post("/api/v1/orders", json=order_body((product.id, 1)),
                            headers=buyer)).json()
    created = (await api.post(f"/api/v1/orders/{order['id']}/payments",
                              json={"method": "ecpay"}, headers=buyer)).json()
    async with httpx.AsyncClient() as browser:
        await browser.post(created["action"]["url"], data=created["action"]["fields"])
    async with ctx.sessions() as session:
        payment = await session.get(Payment, created["payment_id"])
    assert payment is not None
    return order["id"], payment


async def _status(ctx: AppContext, order_id: int) -> str:
    async with ctx.sessions() as session:
        return str(await session.scalar(select(Order.status).where(Order.id == order_id)))


def test_reconcile_is_scheduled_on_the_payments_queue() -> None:
    assert "commerce.payments.tasks" in TASK_MODULES
    assert tasks.reconcile_payments.queue == "payments"  # type: ignore[attr-defined]
    assert tasks.process_notification.queue == "payments"  # type: ignore[attr-defined]
    assert tasks.process_notification.task_name == (  # type: ignore[attr-defined]
        "payments.process_notification")
    assert BEAT["payments.reconcile"] == timedelta(minutes=1)


async def test_lost_notification_is_found_by_query(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_ecpay: FakeEcpay
) -> None:
    order_id, payment = await _pending_ecpay(pay_api, pay_ctx, fake_ecpay)
    assert await reconcile.query_pending(pay_ctx) == []  # too young to ask about
    later = utcnow() + timedelta(seconds=pay_ctx.settings.payments.query_after_s + 1)
    assert await reconcile.query_pending(pay_ctx, now=later) == []  # not paid at ECPay yet
    fake_ecpay.notification(payment.provider_ref)  # paid, but ReturnURL never reaches us
    [notification_id] = await reconcile.query_pending(pay_ctx, now=later)
    assert await settlement.process_notification(
        pay_ctx, notification_id=notification_id) == "paid"
    assert await _status(pay_ctx, order_id) == "paid"
    assert len(await events(pay_ctx, "order.paid")) == 1
    # Paid orders are not asked about again, and a late real notification is a duplicate.
    assert await reconcile.query_pending(pay_ctx, now=later) == []
    headers, body = fake_ecpay.notification(payment.provider_ref)
    resp = await pay_api.post("/api/v1/payments/webhooks/ecpay", content=body, headers=headers)
    assert resp.text == "1|OK"
    assert len(await events(pay_ctx, "order.paid")) == 1


async def test_unprocessed_notification_is_picked_up_again(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_ecpay: FakeEcpay
) -> None:
    order_id, payment = await _pending_ecpay(pay_api, pay_ctx, fake_ecpay)
    facts = ParsedNotification(
        provider_event_id="T1:1:pay", provider_ref=payment.provider_ref,
        amount_minor=payment.amount_minor, currency="TWD", status="succeeded",
        provider_txn_id="T1", raw="stored before a crash",
    )
    notification_id, new = await settlement.store_notification(pay_ctx, "ecpay", facts)
    assert new
    assert await settlement.store_notification(pay_ctx, "ecpay", facts) == (
        notification_id, False)
    assert await reconcile.stale_notifications(pay_ctx) == []
    later = utcnow() + timedelta(minutes=2)
    assert await reconcile.stale_notifications(pay_ctx, now=later) == [notification_id]
    assert await settlement.process_notification(
        pay_ctx, notification_id=notification_id) == "paid"
    assert await settlement.process_notification(
        pay_ctx, notification_id=notification_id) == "paid"  # idempotent
    assert await reconcile.stale_notifications(pay_ctx, now=later) == []
    assert await _status(pay_ctx, order_id) == "paid"
    assert len(await events(pay_ctx, "order.paid")) == 1
