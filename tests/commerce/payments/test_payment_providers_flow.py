"""Each provider's notification path through the API to a paid order (fakes over HTTP)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from commerce.context import AppContext
from commerce.orders.models import Order
from commerce.payment_wire import twoc2p_keys
from commerce.payments.models import Payment
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import events, order_body
from tests.commerce.payments.helpers import wait_settled
from tests.fakes.payments import twoc2p as fake_twoc2p_module
from tests.fakes.payments.linepay import FakeLinepay
from tests.fakes.payments.newebpay import FakeNewebpay
from tests.fakes.payments.omise import FakeOmise
from tests.fakes.payments.twoc2p import FakeTwoC2P

WEBHOOK = "/api/v1/payments/webhooks"
REFUND = {"reason": "buyer asked"}


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
        f"{pay_ctx.settings.payments.return_url}?trade_no={payment.provider_ref}")
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


async def _paid_by_twoc2p(
    api: httpx.AsyncClient, ctx: AppContext, fake: FakeTwoC2P
) -> tuple[int, Payment]:
    order_id, created = await _pay(api, ctx, "twoc2p", currency="THB")
    payment = await _ref(ctx, created["payment_id"])
    headers, body = fake.notification(payment.provider_ref)
    assert (await api.post(f"{WEBHOOK}/twoc2p", content=body, headers=headers)).status_code \
        == 200
    [note] = await wait_settled(ctx, "twoc2p")
    assert note.result == "paid" and await _order_status(ctx, order_id) == "paid"
    return order_id, payment


async def test_twoc2p_paid_order_is_refunded_through_the_maintenance_api(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_twoc2p: FakeTwoC2P
) -> None:
    """`POST /orders/{id}/refund` for a 2C2P payment: a JWE+JWS refund request to the fake
    (developer.2c2p.com/docs/payment-maintenance-refund-guide), order `paid → refunded`."""
    order_id, payment = await _paid_by_twoc2p(pay_api, pay_ctx, fake_twoc2p)
    _, admin = await make_user(pay_ctx, "admin", market="TH")
    resp = await pay_api.post(f"/api/v1/orders/{order_id}/refund", json=REFUND, headers=admin)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "refunded"
    [seen] = fake_twoc2p.refunds
    assert (seen["invoiceNo"], seen["actionAmount"], seen["processType"]) == (
        payment.provider_ref, "350.00", "R")
    refunded = await _ref(pay_ctx, payment.id)
    assert refunded.status == "refunded"
    assert (refunded.provider_refund_id or "").startswith("RF")
    again = await pay_api.post(f"/api/v1/orders/{order_id}/refund", json=REFUND, headers=admin)
    assert again.status_code == 409 and len(fake_twoc2p.refunds) == 1


async def test_twoc2p_refund_with_a_forged_reply_changes_nothing_here(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_twoc2p: FakeTwoC2P
) -> None:
    """A reply 2C2P did not sign is a provider error (502), never a refunded order. The money
    may have moved at 2C2P; asking again then gets 2C2P's own refusal (409, code 49)."""
    order_id, payment = await _paid_by_twoc2p(pay_api, pay_ctx, fake_twoc2p)
    _, admin = await make_user(pay_ctx, "admin", market="TH")
    fake_twoc2p.signing_key_pem = twoc2p_keys.generate_private_pem()
    forged = await pay_api.post(f"/api/v1/orders/{order_id}/refund", json=REFUND, headers=admin)
    assert forged.status_code == 502
    assert forged.json()["error"]["code"] == "payment_provider_error"
    assert await _order_status(pay_ctx, order_id) == "paid"
    assert (await _ref(pay_ctx, payment.id)).status == "succeeded"  # the claim is released
    fake_twoc2p.signing_key_pem = fake_twoc2p_module.PROVIDER_PRIVATE_PEM
    refused = await pay_api.post(f"/api/v1/orders/{order_id}/refund", json=REFUND, headers=admin)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "refund_refused"
    assert refused.json()["error"]["details"]["provider_code"] == "49"
    assert await _order_status(pay_ctx, order_id) == "paid"
