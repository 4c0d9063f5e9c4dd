"""Real races on MariaDB: duplicate payment notifications arriving together, and a notification
racing the reservation-expiry task. Every delivery goes through the webhook over the app, and
each settlement runs in its own task with its own connection, so the settlement's row locks and
conditional UPDATEs are what keeps the outcome single."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import select

from commerce.context import AppContext
from commerce.db import utcnow
from commerce.orders import service as order_service
from commerce.payments.models import PaymentNotification
from tests.commerce.orders.helpers import events, stock_of
from tests.commerce.payments.helpers import wait_settled
from tests.commerce.payments.test_payment_flow import _ecpay_checkout, _order, _payment, _status
from tests.fakes.payments.ecpay import FakeEcpay

WEBHOOK = "/api/v1/payments/webhooks/ecpay"


async def test_concurrent_duplicate_notifications_settle_once(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_ecpay: FakeEcpay
) -> None:
    order, buyer, _, product_id = await _order(pay_api, pay_ctx)
    stock_after_order = await stock_of(pay_ctx, product_id)
    created = await _ecpay_checkout(pay_api, fake_ecpay, order["id"], buyer)
    trade_no = created["action"]["fields"]["MerchantTradeNo"]
    deliveries = []
    for _ in range(3):  # three distinct success notifications (ECPay trade numbers) ...
        fake_ecpay.trades[trade_no]["trade_no"] = None
        deliveries.append(fake_ecpay.notification(trade_no))
    deliveries += [deliveries[0]] * 7  # ... and the first one retried, all at the same moment
    answers = await asyncio.gather(
        *(pay_api.post(WEBHOOK, content=body, headers=headers) for headers, body in deliveries)
    )
    assert {(a.status_code, a.text) for a in answers} == {(200, "1|OK")}
    notes = await wait_settled(pay_ctx, "ecpay", count=3)
    assert len(notes) == 3  # one row per provider event, however often it arrived
    assert sorted(n.result or "" for n in notes) == ["duplicate", "duplicate", "paid"]
    assert await _status(pay_ctx, order["id"]) == "paid"
    assert (await _payment(pay_ctx, created["payment_id"])).status == "succeeded"
    assert len(await events(pay_ctx, "order.paid")) == 1
    assert await stock_of(pay_ctx, product_id) == stock_after_order  # nothing released


async def test_a_notification_racing_the_expiry_task_has_one_consistent_outcome(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_ecpay: FakeEcpay
) -> None:
    outcomes = []
    # The expiry starts a little later each round (the notification is stored, then settled in
    # the background), so the rounds cover expiry-first, the overlap, and settlement-first.
    offsets_s = [0.0, 0.002, 0.005, 0.01, 0.02, 0.05]

    async def expire_after(delay_s: float) -> int:
        await asyncio.sleep(delay_s)
        return await order_service.expire_due(pay_ctx, now=utcnow() + timedelta(days=1))

    for round_, offset_s in enumerate(offsets_s):
        order, buyer, _, product_id = await _order(pay_api, pay_ctx, quantity=2)
        reserved = await stock_of(pay_ctx, product_id)
        created = await _ecpay_checkout(pay_api, fake_ecpay, order["id"], buyer)
        headers, body = fake_ecpay.notification(created["action"]["fields"]["MerchantTradeNo"])
        answer, _ = await asyncio.gather(
            pay_api.post(WEBHOOK, content=body, headers=headers), expire_after(offset_s)
        )
        assert (answer.status_code, answer.text) == (200, "1|OK")
        note = (await wait_settled(pay_ctx, "ecpay", count=round_ + 1))[-1]
        status = await _status(pay_ctx, order["id"])
        payment = await _payment(pay_ctx, created["payment_id"])
        stock = await stock_of(pay_ctx, product_id)
        outcomes.append(status)
        if status == "paid":
            assert (note.result, payment.status, payment.needs_refund) == (
                "paid", "succeeded", False)
            assert stock == reserved  # the reservation became the sale
        else:
            assert status == "expired"
            assert (note.result, payment.status, payment.needs_refund) == (
                "needs_refund", "succeeded", True)  # money taken for an expired order
            assert stock == reserved + 2  # returned exactly once
    print("race outcomes:", outcomes)  # shown with -s: which side won each round
    paid = await events(pay_ctx, "order.paid")
    expired = await events(pay_ctx, "order.expired")
    assert len(paid) == outcomes.count("paid") and len(expired) == outcomes.count("expired")
    async with pay_ctx.sessions() as session:
        rows = (await session.scalars(select(PaymentNotification))).all()
    assert len(rows) == 6 and all(r.processed_at is not None for r in rows)
