"""Every payment method reaches `paid` through its provider's local sandbox, which sends the
provider's signed notification to our webhook; failures, repeats and strangers included."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from commerce.context import AppContext
from commerce.orders.models import Order
from commerce.payments.models import Payment, PaymentNotification
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import order_body, stock_of
from tests.helpers.waiting import until

SANDBOX = "/api/v1/sandbox/payments"
# (method, currency, extra body): each method of the contract, wallets in both currencies.
CASES: list[tuple[str, str, dict[str, str]]] = [
    ("ecpay", "TWD", {}),
    ("newebpay", "TWD", {}),
    ("linepay", "TWD", {}),
    ("linepay", "THB", {}),
    ("applepay", "TWD", {"token": "any-apple-pay-prime"}),
    ("googlepay", "TWD", {"token": "any-google-pay-prime"}),
    ("omise_card", "THB", {"token": "tokn_anything"}),
    ("promptpay", "THB", {}),
    ("truemoney", "THB", {"phone_number": "0812345678"}),
    ("twoc2p", "THB", {}),
    ("applepay", "THB", {"token": "any-apple-pay-data"}),
    ("googlepay", "THB", {"token": "any-google-pay-data"}),
]


async def start_payment(
    api: httpx.AsyncClient, ctx: AppContext, method: str, currency: str,
    extra: dict[str, str] | None = None, *, quantity: int = 2,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], int]:
    """A buyer's order of `quantity` units (at 129.00 each) and a payment attempt for it."""
    market = "TW" if currency == "TWD" else "TH"
    seller, _ = await make_user(ctx, "seller", market=market)
    _, buyer = await make_user(ctx, market=market)
    product = await make_product(ctx, seller, price="129.00", currency=currency, stock=5)
    resp = await api.post("/api/v1/orders", json=order_body((product.id, quantity)),
                          headers=buyer)
    assert resp.status_code == 201, resp.text
    order = resp.json()
    resp = await api.post(f"/api/v1/orders/{order['id']}/payments",
                          json={"method": method, **(extra or {})}, headers=buyer)
    assert resp.status_code == 201, resp.text
    return order, resp.json(), buyer, product.id


async def wait_status(ctx: AppContext, order_id: int, wanted: str, timeout: float = 10) -> None:
    """Settlement runs as a task (in the background when embedded): poll the database."""

    async def reached() -> bool:
        async with ctx.sessions() as session:
            status = await session.scalar(select(Order.status).where(Order.id == order_id))
        return status == wanted

    await until(reached, f"order {order_id} {wanted}", timeout)


async def notifications(ctx: AppContext, payment_id: int) -> int:
    async with ctx.sessions() as session:
        return int(await session.scalar(
            select(func.count()).select_from(PaymentNotification)
            .where(PaymentNotification.payment_id == payment_id)
        ) or 0)


@pytest.mark.parametrize(("method", "currency", "extra"), CASES,
                         ids=[f"{m}-{c}" for m, c, _ in CASES])
async def test_each_method_is_paid_through_its_sandbox(
    sandbox_api: httpx.AsyncClient, sandbox_ctx: AppContext, method: str, currency: str,
    extra: dict[str, str],
) -> None:
    order, payment, buyer, _ = await start_payment(sandbox_api, sandbox_ctx, method, currency,
                                                   extra)
    assert payment["status"] == "pending"
    action = payment["action"]
    assert action["type"] in {"form_post", "redirect", "qr"}
    if action["type"] != "qr":  # every page the shopper is sent to is the local sandbox's
        assert "/sandbox/payments/" in action["url"]
    resp = await sandbox_api.post(f"{SANDBOX}/{payment['payment_id']}",
                                  json={"outcome": "paid"}, headers=buyer)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["webhook_status"] in (200, 303) and body["redelivered"] is False
    await wait_status(sandbox_ctx, order["id"], "paid")
    async with sandbox_ctx.sessions() as session:
        stored = await session.get(Payment, payment["payment_id"])
    assert stored is not None and stored.status == "succeeded"
    assert (stored.amount_minor, stored.currency) == (25800, currency)


async def test_the_shoppers_pages_settle_too(
    sandbox_api: httpx.AsyncClient, sandbox_ctx: AppContext
) -> None:
    """The browser path: post ECPay's form to the sandbox page, press Pay, land on our return
    URL; the page's choice went through the signed ReturnURL notification."""
    order, payment, _, _ = await start_payment(sandbox_api, sandbox_ctx, "ecpay", "TWD")
    action = payment["action"]
    path = httpx.URL(action["url"]).path
    page = await sandbox_api.post(path, data=action["fields"])
    assert page.status_code == 200 and 'value="paid"' in page.text
    assert "<script" not in page.text and page.headers["content-security-policy"]
    ref = action["fields"]["MerchantTradeNo"]
    chosen = await sandbox_api.post(f"/sandbox/payments/ecpay/pay/{ref}",
                                    data={"outcome": "paid"})
    assert chosen.status_code == 303
    assert chosen.headers["location"].startswith(sandbox_ctx.settings.payments.return_url)
    await wait_status(sandbox_ctx, order["id"], "paid")


async def test_failed_outcome_leaves_the_order_unpaid(
    sandbox_api: httpx.AsyncClient, sandbox_ctx: AppContext
) -> None:
    order, payment, buyer, product_id = await start_payment(sandbox_api, sandbox_ctx, "ecpay",
                                                            "TWD")
    resp = await sandbox_api.post(f"{SANDBOX}/{payment['payment_id']}",
                                  json={"outcome": "failed"}, headers=buyer)
    assert resp.status_code == 200, resp.text

    async def processed() -> PaymentNotification | None:
        async with sandbox_ctx.sessions() as session:
            note = await session.scalar(select(PaymentNotification).where(
                PaymentNotification.payment_id == payment["payment_id"]))
        return note if note is not None and note.processed_at is not None else None

    note = await until(processed, "the failure notification processed", 10)
    async with sandbox_ctx.sessions() as session:
        stored = await session.get(Payment, payment["payment_id"])
    assert note.status == "failed" and stored is not None and stored.status != "succeeded"
    async with sandbox_ctx.sessions() as session:
        assert await session.scalar(select(Order.status).where(Order.id == order["id"])) == (
            "pending_payment")
    assert await stock_of(sandbox_ctx, product_id) == 3  # still reserved for a retry
    again = await sandbox_api.post(f"{SANDBOX}/{payment['payment_id']}",
                                   json={"outcome": "paid"}, headers=buyer)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "sandbox_already_completed"


async def test_settling_twice_is_a_no_op(
    sandbox_api: httpx.AsyncClient, sandbox_ctx: AppContext
) -> None:
    order, payment, buyer, product_id = await start_payment(sandbox_api, sandbox_ctx, "omise_card",
                                                            "THB", {"token": "tokn_x"})
    url = f"{SANDBOX}/{payment['payment_id']}"
    first = await sandbox_api.post(url, json={"outcome": "paid"}, headers=buyer)
    await wait_status(sandbox_ctx, order["id"], "paid")
    second = await sandbox_api.post(url, json={"outcome": "paid"}, headers=buyer)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["redelivered"] is True and second.json()["webhook_status"] == 200
    assert await notifications(sandbox_ctx, payment["payment_id"]) == 1  # the same event
    assert await stock_of(sandbox_ctx, product_id) == 3
    resp = await sandbox_api.get(f"/api/v1/orders/{order['id']}", headers=buyer)
    assert resp.json()["status"] == "paid"


async def test_someone_elses_payment_is_not_found(
    sandbox_api: httpx.AsyncClient, sandbox_ctx: AppContext
) -> None:
    order, payment, _, _ = await start_payment(sandbox_api, sandbox_ctx, "linepay", "TWD")
    _, stranger = await make_user(sandbox_ctx)
    url = f"{SANDBOX}/{payment['payment_id']}"
    resp = await sandbox_api.post(url, json={"outcome": "paid"}, headers=stranger)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    missing = await sandbox_api.post(f"{SANDBOX}/999999999", json={"outcome": "paid"},
                                     headers=stranger)
    assert missing.status_code == 404
    for bad in ({"outcome": "maybe"}, {"outcome": "paid", "extra": 1}, {}):
        assert (await sandbox_api.post(url, json=bad, headers=stranger)).status_code == 422
    assert (await sandbox_api.post(url, json={"outcome": "paid"})).status_code == 401
    assert await notifications(sandbox_ctx, payment["payment_id"]) == 0
    async with sandbox_ctx.sessions() as session:
        assert await session.scalar(select(Order.status).where(Order.id == order["id"])) == (
            "pending_payment")
