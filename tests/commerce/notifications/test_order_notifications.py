"""Order events become one inbox item and one email in the buyer's locale, however often the
event is delivered (real MariaDB, Redis stream, the API's own consumer group)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from commerce.auth.models import User
from commerce.context import AppContext
from shared import events as ev
from tests.commerce.factories import make_product, make_user
from tests.commerce.notifications.helpers import inbox, mailbox, settle, until
from tests.commerce.orders.helpers import order_body


async def _place(
    api: httpx.AsyncClient, ctx: AppContext, market: str, price: str
) -> tuple[User, dict[str, str], dict[str, Any]]:
    seller, _ = await make_user(ctx, "seller", market=market)
    buyer, headers = await make_user(ctx, market=market)
    product = await make_product(ctx, seller, price=price, stock=5)
    response = await api.post("/api/v1/orders", json=order_body((product.id, 1)), headers=headers)
    assert response.status_code == 201, response.text
    # order.placed goes through the outbox relay: wait for its notification before going on.
    await until(lambda: inbox(api, headers), what="the order_placed notification")
    await settle(ctx)
    return buyer, headers, response.json()


@pytest.mark.parametrize(
    ("market", "price", "paid_subject", "amount"),
    [("TW", "1290.00", "訂單 #{id} 付款成功", "NT$1,290"),
     ("TH", "1290.50", "ชำระเงินคำสั่งซื้อ #{id} สำเร็จ", "฿1,290.50")],
)
async def test_paid_order_notifies_once_in_the_buyers_locale(
    api: httpx.AsyncClient, ctx: AppContext, market: str, price: str, paid_subject: str,
    amount: str,
) -> None:
    buyer, headers, order = await _place(api, ctx, market, price)
    paid = ev.OrderPaid(data=ev.OrderStateData(order_id=order["id"], buyer_id=buyer.id,
                                               status="paid"))
    raw = ev.encode(paid)
    await ctx.bus.publish_raw(raw)
    await ctx.bus.publish_raw(raw)  # the same event delivered twice
    await settle(ctx)

    items = await inbox(api, headers)
    assert [i["kind"] for i in items] == ["order_paid", "order_placed"]
    assert items[0]["title"] == paid_subject.format(id=order["id"])
    assert amount in items[0]["body"]
    assert items[0]["data"] == {"order_id": order["id"]} and items[0]["read_at"] is None

    sent = await mailbox(api, buyer.email)
    assert [(m["channel"], m["kind"]) for m in sent] == [("email", "order_paid"),
                                                         ("email", "order_placed")]
    assert sent[0]["subject"] == paid_subject.format(id=order["id"])
    assert amount in sent[0]["text"]
    assert sent[0]["locale"] == buyer.locale


async def test_shipped_and_refunded_events_notify_and_respect_preferences(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    buyer, headers, order = await _place(api, ctx, "TW", "500.00")
    patched = await api.patch("/api/v1/users/me", headers=headers, json={
        "phone": "+886912345678", "notification_prefs": {"email": False}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["notification_prefs"] == {"email": False, "sms": True, "in_app": True}
    await settle(ctx)
    shipped = ev.OrderShipped(data=ev.OrderShippedData(
        order_id=order["id"], buyer_id=buyer.id, seller_id=order["items"][0]["seller_id"],
        status="fulfilled",
        product_ids=[order["items"][0]["product_id"]], carrier="黑貓宅急便",
        tracking_number="TW-778899"))
    refunded = ev.OrderRefunded(data=ev.OrderRefundedData(
        order_id=order["id"], buyer_id=buyer.id, status="refunded",
        product_ids=[order["items"][0]["product_id"]], amount_minor=50000, currency="TWD"))
    for event in (shipped, refunded, shipped):
        await ctx.bus.publish(event)
    await settle(ctx)

    kinds = [i["kind"] for i in await inbox(api, headers)]
    assert kinds == ["order_refunded", "order_shipped", "order_placed"]
    texts = {m["kind"]: m for m in await mailbox(api, "+886912345678")}
    assert set(texts) == {"order_refunded", "order_shipped"}  # SMS only from the change on
    assert texts["order_shipped"]["channel"] == "sms"
    assert "TW-778899" in texts["order_shipped"]["text"]
    assert "NT$500" in texts["order_refunded"]["text"]
    emails = await mailbox(api, buyer.email)
    assert [m["kind"] for m in emails] == ["order_placed"]


async def test_inbox_pages_and_reading_is_per_user(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    _, headers, _ = await _place(api, ctx, "TW", "100.00")
    _, other_headers = await make_user(ctx)
    items = await inbox(api, headers)
    nid = items[0]["id"]

    assert (await api.post(f"/api/v1/users/me/notifications/{nid}/read",
                           headers=other_headers)).status_code == 404
    first = await api.post(f"/api/v1/users/me/notifications/{nid}/read", headers=headers)
    again = await api.post(f"/api/v1/users/me/notifications/{nid}/read", headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["read_at"] is not None and again.json() == first.json()

    page = await api.get("/api/v1/users/me/notifications", params={"limit": 1}, headers=headers)
    assert page.json()["next_cursor"] is None and len(page.json()["items"]) == 1
    bad = await api.get("/api/v1/users/me/notifications", params={"cursor": "!!"},
                        headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"
    assert (await api.get("/api/v1/users/me/notifications")).status_code == 401


@pytest.mark.parametrize("body", [
    {"phone": "0912345678"}, {"phone": 886912345678}, {"notification_prefs": {"email": "no"}},
    {"notification_prefs": {"push": True}}, {"notification_prefs": None},
])
async def test_bad_contact_settings_are_422(
    api: httpx.AsyncClient, ctx: AppContext, body: dict[str, object]
) -> None:
    _, headers = await make_user(ctx)
    response = await api.patch("/api/v1/users/me", headers=headers, json=body)
    assert response.status_code == 422, response.text
