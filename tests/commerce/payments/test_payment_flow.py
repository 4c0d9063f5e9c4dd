"""Payments on the real stack (MariaDB, Redis) with fake providers over HTTP: create a payment,
receive signed notifications, settle through the order state machine, refund."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from commerce.context import AppContext
from commerce.db import utcnow
from commerce.inventory import gate as stock_gate
from commerce.orders import service as order_service
from commerce.orders.models import Order
from commerce.payments.models import Payment, PaymentNotification
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import events, order_body, stock_of
from tests.commerce.payments.helpers import wait_settled
from tests.fakes.payments.ecpay import FakeEcpay

WEBHOOK = "/api/v1/payments/webhooks"
REFUND = {"reason": "buyer asked"}


async def _order(
    api: httpx.AsyncClient, ctx: AppContext, *, price: str = "1290.00", currency: str = "TWD",
    quantity: int = 2,
) -> tuple[dict[str, Any], dict[str, str], dict[str, str], int]:
    market = "TW" if currency == "TWD" else "TH"
    seller, seller_headers = await make_user(ctx, "seller", market=market)
    _, buyer_headers = await make_user(ctx, market=market)
    product = await make_product(ctx, seller, price=price, currency=currency, stock=5)
    resp = await api.post("/api/v1/orders", json=order_body((product.id, quantity)),
                          headers=buyer_headers)
    assert resp.status_code == 201, resp.text
    return resp.json(), buyer_headers, seller_headers, product.id


async def _status(ctx: AppContext, order_id: int) -> str:
    async with ctx.sessions() as session:
        return str(await session.scalar(select(Order.status).where(Order.id == order_id)))


async def _payment(ctx: AppContext, payment_id: int) -> Payment:
    async with ctx.sessions() as session:
        payment = await session.get(Payment, payment_id)
    assert payment is not None
    return payment


async def _ecpay_checkout(
    api: httpx.AsyncClient, fake: FakeEcpay, order_id: int, headers: dict[str, str]
) -> dict[str, Any]:
    resp = await api.post(f"/api/v1/orders/{order_id}/payments", json={"method": "ecpay"},
                          headers=headers)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    async with httpx.AsyncClient() as browser:  # the shopper's browser posts the form
        page = await browser.post(body["action"]["url"], data=body["action"]["fields"])
    assert page.status_code == 200
    return body


async def test_ecpay_paid_once_duplicates_change_nothing(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_ecpay: FakeEcpay
) -> None:
    order, buyer, _, _ = await _order(pay_api, pay_ctx)
    created = await _ecpay_checkout(pay_api, fake_ecpay, order["id"], buyer)
    assert created["status"] == "pending" and created["action"]["type"] == "form_post"
    assert (created["amount"], created["currency"]) == ("2580.00", "TWD")
    trade_no = created["action"]["fields"]["MerchantTradeNo"]
    assert created["action"]["fields"]["ReturnURL"].endswith(f"{WEBHOOK}/ecpay")

    headers, body = fake_ecpay.notification(trade_no)
    for _ in range(2):  # ECPay retries until it reads 1|OK; the second changes nothing
        resp = await pay_api.post(f"{WEBHOOK}/ecpay", content=body, headers=headers)
        assert (resp.status_code, resp.text) == (200, "1|OK")
    [note] = await wait_settled(pay_ctx, "ecpay")
    assert note.result == "paid"
    assert await _status(pay_ctx, order["id"]) == "paid"
    payment = await _payment(pay_ctx, created["payment_id"])
    assert (payment.status, payment.provider_txn_id) == ("succeeded", note.provider_txn_id)
    [paid] = await events(pay_ctx, "order.paid")
    assert paid.data.order_id == order["id"]

    # A second, different success notification for the same payment cannot pay twice.
    fake_ecpay.trades[trade_no]["trade_no"] = None
    headers, other = fake_ecpay.notification(trade_no)
    assert (await pay_api.post(f"{WEBHOOK}/ecpay", content=other, headers=headers)).text == "1|OK"
    notes = await wait_settled(pay_ctx, "ecpay", count=2)
    assert [n.result for n in notes] == ["paid", "duplicate"]
    assert len(await events(pay_ctx, "order.paid")) == 1


async def test_forged_notification_is_400_and_changes_nothing(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_ecpay: FakeEcpay
) -> None:
    order, buyer, _, _ = await _order(pay_api, pay_ctx)
    created = await _ecpay_checkout(pay_api, fake_ecpay, order["id"], buyer)
    trade_no = created["action"]["fields"]["MerchantTradeNo"]
    forger = FakeEcpay(hash_key="AAAAAAAAAAAAAAAA")
    forger.trades = fake_ecpay.trades
    headers, forged = forger.notification(trade_no)
    resp = await pay_api.post(f"{WEBHOOK}/ecpay", content=forged, headers=headers)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_signature"
    async with pay_ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(PaymentNotification)) == 0
    assert await _status(pay_ctx, order["id"]) == "pending_payment"
    unknown = await pay_api.post(f"{WEBHOOK}/paypal", content=b"x")
    assert unknown.status_code == 404


async def test_amount_mismatch_flags_payment_and_order_stays_unpaid(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_ecpay: FakeEcpay
) -> None:
    order, buyer, _, _ = await _order(pay_api, pay_ctx)
    created = await _ecpay_checkout(pay_api, fake_ecpay, order["id"], buyer)
    headers, body = fake_ecpay.notification(created["action"]["fields"]["MerchantTradeNo"],
                                            amount=1)
    resp = await pay_api.post(f"{WEBHOOK}/ecpay", content=body, headers=headers)
    assert resp.text == "1|OK"
    [note] = await wait_settled(pay_ctx, "ecpay")
    assert note.result == "amount_mismatch"
    payment = await _payment(pay_ctx, created["payment_id"])
    assert (payment.status, payment.flag_reason) == ("flagged", "amount_mismatch")
    assert await _status(pay_ctx, order["id"]) == "pending_payment"
    assert await events(pay_ctx, "order.paid") == []
    # A later, correct notification for a flagged payment does not settle it by itself.
    trade_no = created["action"]["fields"]["MerchantTradeNo"]
    fake_ecpay.trades[trade_no]["trade_no"] = None
    headers, body = fake_ecpay.notification(trade_no)
    await pay_api.post(f"{WEBHOOK}/ecpay", content=body, headers=headers)
    notes = await wait_settled(pay_ctx, "ecpay", count=2)
    assert notes[-1].result == "payment_flagged"
    assert await _status(pay_ctx, order["id"]) == "pending_payment"


async def test_payment_for_expired_order_is_kept_for_refund(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_ecpay: FakeEcpay
) -> None:
    order, buyer, seller, _ = await _order(pay_api, pay_ctx)
    created = await _ecpay_checkout(pay_api, fake_ecpay, order["id"], buyer)
    assert await order_service.expire_due(pay_ctx, now=utcnow() + timedelta(days=1)) == 1
    headers, body = fake_ecpay.notification(created["action"]["fields"]["MerchantTradeNo"])
    assert (await pay_api.post(f"{WEBHOOK}/ecpay", content=body, headers=headers)).text == "1|OK"
    [note] = await wait_settled(pay_ctx, "ecpay")
    assert note.result == "needs_refund"
    payment = await _payment(pay_ctx, created["payment_id"])
    assert (payment.status, payment.needs_refund) == ("succeeded", True)
    assert await _status(pay_ctx, order["id"]) == "expired"
    # ... and a new payment for it is refused.
    again = await pay_api.post(f"/api/v1/orders/{order['id']}/payments",
                               json={"method": "ecpay"}, headers=buyer)
    assert again.status_code == 409 and again.json()["error"]["code"] == "order_not_payable"
    # The seller refunds the stray money through the same route; the order stays expired.
    refunded = await pay_api.post(
        f"/api/v1/orders/{order['id']}/refund", json=REFUND, headers=seller
    )
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["status"] == "expired"
    payment = await _payment(pay_ctx, created["payment_id"])
    assert (payment.status, payment.needs_refund) == ("refunded", False)
    assert len(fake_ecpay.refunds) == 1


async def test_refund_by_seller_returns_stock_and_refunds_at_provider(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_ecpay: FakeEcpay
) -> None:
    order, buyer, seller, product_id = await _order(pay_api, pay_ctx)
    created = await _ecpay_checkout(pay_api, fake_ecpay, order["id"], buyer)
    headers, body = fake_ecpay.notification(created["action"]["fields"]["MerchantTradeNo"])
    await pay_api.post(f"{WEBHOOK}/ecpay", content=body, headers=headers)
    await wait_settled(pay_ctx, "ecpay")
    assert await stock_of(pay_ctx, product_id) == 3

    assert (await pay_api.post(f"/api/v1/orders/{order['id']}/refund",
                               json=REFUND, headers=buyer)).status_code == 403
    _, stranger = await make_user(pay_ctx, "seller")
    assert (await pay_api.post(f"/api/v1/orders/{order['id']}/refund",
                               json=REFUND, headers=stranger)).status_code == 404
    resp = await pay_api.post(f"/api/v1/orders/{order['id']}/refund", json=REFUND, headers=seller)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "refunded"
    assert fake_ecpay.refunds[0]["TotalAmount"] == "2580"
    assert await stock_of(pay_ctx, product_id) == 5
    payment = await _payment(pay_ctx, created["payment_id"])
    assert payment.status == "refunded" and payment.provider_refund_id
    again = await pay_api.post(f"/api/v1/orders/{order['id']}/refund", json=REFUND, headers=seller)
    assert again.status_code == 409
    assert len(fake_ecpay.refunds) == 1


async def test_payment_input_and_access_are_checked(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext
) -> None:
    order, buyer, seller, _ = await _order(pay_api, pay_ctx)
    url = f"/api/v1/orders/{order['id']}/payments"
    bad = await pay_api.post(url, json={"method": "bitcoin"}, headers=buyer)
    assert bad.status_code == 422
    extra = await pay_api.post(url, json={"method": "ecpay", "amount": "1.00"}, headers=buyer)
    assert extra.status_code == 422
    assert (await pay_api.post(url, json={"method": "ecpay"})).status_code == 401
    assert (await pay_api.post(url, json={"method": "ecpay"}, headers=seller)).status_code == 403
    _, other = await make_user(pay_ctx)
    assert (await pay_api.post(url, json={"method": "ecpay"}, headers=other)).status_code == 404
    thb_only = await pay_api.post(url, json={"method": "truemoney", "phone_number": "0812345678"},
                                  headers=buyer)
    assert thb_only.status_code == 422
    assert thb_only.json()["error"]["code"] == "payment_method_unsupported"


async def test_second_paid_attempt_is_kept_for_refund_and_stray_trades_are_recorded(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_ecpay: FakeEcpay
) -> None:
    order, buyer, _, _ = await _order(pay_api, pay_ctx)
    first = await _ecpay_checkout(pay_api, fake_ecpay, order["id"], buyer)
    second = await _ecpay_checkout(pay_api, fake_ecpay, order["id"], buyer)
    for created in (first, second):  # the shopper paid in two tabs
        headers, body = fake_ecpay.notification(created["action"]["fields"]["MerchantTradeNo"])
        await pay_api.post(f"{WEBHOOK}/ecpay", content=body, headers=headers)
    notes = await wait_settled(pay_ctx, "ecpay", count=2)
    assert sorted(n.result or "" for n in notes) == ["needs_refund", "paid"]
    flags = {(p.status, p.needs_refund) for p in
             [await _payment(pay_ctx, c["payment_id"]) for c in (first, second)]}
    assert flags == {("succeeded", False), ("succeeded", True)}
    assert len(await events(pay_ctx, "order.paid")) == 1

    # A genuine notification for a trade that is not ours is kept, not acted on.
    fake_ecpay.trades["NOTOURS0000000000001"] = {
        "fields": {"TotalAmount": "100"}, "trade_no": None}
    headers, body = fake_ecpay.notification("NOTOURS0000000000001")
    assert (await pay_api.post(f"{WEBHOOK}/ecpay", content=body, headers=headers)).text == "1|OK"
    notes = await wait_settled(pay_ctx, "ecpay", count=3)
    assert notes[-1].result == "unknown_payment" and notes[-1].payment_id is None
    no_hooks = await pay_api.post(f"{WEBHOOK}/promptpay", content=b"{}")
    assert no_hooks.status_code == 404


async def test_a_settled_payment_lowers_the_gates_unpaid_count(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_ecpay: FakeEcpay
) -> None:
    """Issue 17: the Redis gate counts the buyer's unpaid orders; settlement's `paid` lowers
    it after its commit (a stale count would refuse the buyer's next orders until its TTL)."""
    order, buyer, _, _ = await _order(pay_api, pay_ctx)
    async with pay_ctx.sessions() as session:
        buyer_id = await session.scalar(select(Order.buyer_id).where(Order.id == order["id"]))
    unpaid = stock_gate.unpaid_key(int(buyer_id))
    assert int(await pay_ctx.redis.get(unpaid)) == 1
    created = await _ecpay_checkout(pay_api, fake_ecpay, order["id"], buyer)
    headers, body = fake_ecpay.notification(created["action"]["fields"]["MerchantTradeNo"])
    resp = await pay_api.post(f"{WEBHOOK}/ecpay", content=body, headers=headers)
    assert (resp.status_code, resp.text) == (200, "1|OK")
    [note] = await wait_settled(pay_ctx, "ecpay")
    assert note.result == "paid"
    deadline = asyncio.get_running_loop().time() + 10
    while int(await pay_ctx.redis.get(unpaid)) != 0:  # lowered right after the commit
        assert asyncio.get_running_loop().time() < deadline, await pay_ctx.redis.get(unpaid)
        await asyncio.sleep(0.02)
