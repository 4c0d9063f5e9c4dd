"""Each provider's notification path through the API to a paid order (fakes over HTTP)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from commerce.context import AppContext
from commerce.orders.models import Order
from commerce.payments.models import Payment
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import events, order_body
from tests.commerce.payments.helpers import wait_settled
from tests.fakes.payments.linepay import FakeLinepay
from tests.fakes.payments.newebpay import FakeNewebpay
from tests.fakes.payments.omise import FakeOmise
from tests.fakes.payments.twoc2p import FakeTwoC2P

WEBHOOK = "/api/v1/payments/webhooks"


async def _pay(
    api: httpx.AsyncClient, ctx: AppContext, method: str, *, currency: str = "TWD",
    **extra: Any,
) -> tuple[int, dict[str, Any]]:
    market = "TW" if currency == "TWD" else "TH"
    seller, _ = await make_user(ctx, "seller", market=market)
    _, buyer = await make_user(ctx, market=market)
    product = await make_product(ctx, seller, price="350.00", currency=currency, stock=3)
    order = (await api.post("/api/v1/orders", json=order_body((product.id, 1)),
                            headers=buyer)).json()
    resp = await api.post(f"/api/v1/orders/{order['id']}/payments",
                          json={"method": method, **extra}, headers=buyer)
    assert resp.status_code == 201, resp.text
    return order["id"], resp.json()


async def _order_status(ctx: AppContext, order_id: int) -> str:
    async with ctx.sessions() as session:
        return str(await session.scalar(select(Order.status).where(Order.id == order_id)))


async def _ref(ctx: AppContext, payment_id: int) -> Payment:
    async with ctx.sessions() as session:
        payment = await session.get(Payment, payment_id)
    assert payment is not None
    return payment


async def test_linepay_return_is_confirmed_and_pays(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_linepay: FakeLinepay
) -> None:
    order_id, created = await _pay(pay_api, pay_ctx, "linepay")
    assert created["action"]["type"] == "redirect"
    payment = await _ref(pay_ctx, created["payment_id"])
    query = fake_linepay.approve(payment.provider_txn_id or "")
    resp = await pay_api.get(f"{WEBHOOK}/linepay", params=query)
    assert resp.status_code == 303  # the shopper's browser goes on to the shop
    assert resp.headers["location"] == (
        f"{pay_ctx.settings.payments_return_url}?trade_no={payment.provider_ref}")
    [note] = await wait_settled(pay_ctx, "linepay")
    assert note.result == "paid"
    assert fake_linepay.payments[int(payment.provider_txn_id or 0)]["state"] == "confirmed"
    assert await _order_status(pay_ctx, order_id) == "paid"
    # The confirm URL hit again (browser reload) is a duplicate: nothing is confirmed twice.
    assert (await pay_api.get(f"{WEBHOOK}/linepay", params=query)).status_code == 303
    assert len(await events(pay_ctx, "order.paid")) == 1


async def test_linepay_forged_return_and_short_capture(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_linepay: FakeLinepay
) -> None:
    order_id, created = await _pay(pay_api, pay_ctx, "linepay")
    payment = await _ref(pay_ctx, created["payment_id"])
    forged = {"transactionId": payment.provider_txn_id or "", "orderId": payment.provider_ref}
    resp = await pay_api.get(f"{WEBHOOK}/linepay", params=forged)  # never approved
    assert resp.status_code == 400
    query = fake_linepay.approve(payment.provider_txn_id or "", paid=1)
    await pay_api.get(f"{WEBHOOK}/linepay", params=query)
    [note] = await wait_settled(pay_ctx, "linepay")
    assert note.result == "amount_mismatch"
    assert await _order_status(pay_ctx, order_id) == "pending_payment"


async def test_newebpay_notification_pays(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_newebpay: FakeNewebpay
) -> None:
    order_id, created = await _pay(pay_api, pay_ctx, "newebpay")
    async with httpx.AsyncClient() as browser:
        await browser.post(created["action"]["url"], data=created["action"]["fields"])
    [trade_no] = fake_newebpay.trades
    headers, forged = fake_newebpay.notification(trade_no, forge_sha=True)
    assert (await pay_api.post(f"{WEBHOOK}/newebpay", content=forged,
                               headers=headers)).status_code == 400
    headers, body = fake_newebpay.notification(trade_no)
    assert (await pay_api.post(f"{WEBHOOK}/newebpay", content=body,
                               headers=headers)).status_code == 200
    [note] = await wait_settled(pay_ctx, "newebpay")
    assert note.result == "paid"
    assert await _order_status(pay_ctx, order_id) == "paid"


async def test_omise_promptpay_webhook_is_refetched_and_pays(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_omise: FakeOmise
) -> None:
    order_id, created = await _pay(pay_api, pay_ctx, "promptpay", currency="THB")
    assert created["action"]["type"] == "qr" and created["action"]["image_png_base64"]
    payment = await _ref(pay_ctx, created["payment_id"])
    assert payment.provider == "omise"
    fake_omise.charges[payment.provider_txn_id or ""]  # the charge exists at the provider
    forged = b'{"object":"event","id":"evnt_test_forged","key":"charge.complete"}'
    assert (await pay_api.post(f"{WEBHOOK}/omise", content=forged)).status_code == 400
    headers, body = fake_omise.complete(payment.provider_txn_id or "")
    assert (await pay_api.post(f"{WEBHOOK}/omise", content=body, headers=headers)).status_code \
        == 200
    [note] = await wait_settled(pay_ctx, "omise")
    assert (note.result, note.amount_minor, note.currency) == ("paid", 35000, "THB")
    assert await _order_status(pay_ctx, order_id) == "paid"


async def test_twoc2p_backend_notification_pays_and_wrong_amount_does_not(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_twoc2p: FakeTwoC2P
) -> None:
    order_id, created = await _pay(pay_api, pay_ctx, "twoc2p", currency="THB")
    assert created["action"]["type"] == "redirect"
    payment = await _ref(pay_ctx, created["payment_id"])
    headers, short = fake_twoc2p.notification(payment.provider_ref, amount=Decimal("3.50"))
    assert (await pay_api.post(f"{WEBHOOK}/twoc2p", content=short, headers=headers)
            ).status_code == 200
    [note] = await wait_settled(pay_ctx, "twoc2p")
    assert note.result == "amount_mismatch"
    assert await _order_status(pay_ctx, order_id) == "pending_payment"
    headers, forged = fake_twoc2p.notification(payment.provider_ref, secret="B" * 64)
    assert (await pay_api.post(f"{WEBHOOK}/twoc2p", content=forged, headers=headers)
            ).status_code == 400
