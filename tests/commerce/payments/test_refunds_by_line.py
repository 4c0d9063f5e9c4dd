"""Refunds by line through the provider that took the payment (the ECPay fake checks the
CheckMacValue and records each `Action=R` with its amount): each seller only their own lines,
stock back once for lines that had not shipped, the order `refunded` when every line is."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import update

from commerce.context import AppContext
from commerce.payments.models import Payment
from tests.commerce.factories import make_user
from tests.commerce.orders.helpers import events, mixed_order, stock_of
from tests.commerce.payments.helpers import wait_settled
from tests.commerce.payments.test_payment_flow import WEBHOOK, _ecpay_checkout, _payment
from tests.fakes.payments.ecpay import FakeEcpay


async def _paid_mixed_order(
    api: httpx.AsyncClient, ctx: AppContext, fake: FakeEcpay
) -> dict[str, Any]:
    order = await mixed_order(api, ctx)
    order_id, buyer_h = order["id"], order["buyer"]
    created = await _ecpay_checkout(api, fake, order_id, buyer_h)
    headers, body = fake.notification(created["action"]["fields"]["MerchantTradeNo"])
    assert (await api.post(f"{WEBHOOK}/ecpay", content=body, headers=headers)).text == "1|OK"
    [note] = await wait_settled(ctx, "ecpay")
    assert note.result == "paid"
    return {**order, "payment_id": created["payment_id"]}


async def test_each_seller_refunds_only_their_lines_and_stock_returns_once(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_ecpay: FakeEcpay
) -> None:
    o = await _paid_mixed_order(pay_api, pay_ctx, fake_ecpay)
    refund = f"{o['url']}/refund"
    assert (await stock_of(pay_ctx, o["pa"]), await stock_of(pay_ctx, o["pb"])) == (3, 4)

    theirs = await pay_api.post(refund, json={"reason": "x", "product_ids": [o["pa"]]},
                                headers=o["b"])
    assert theirs.status_code == 403
    unknown = await pay_api.post(refund, json={"reason": "x", "product_ids": [999999]},
                                 headers=o["b"])
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_lines"
    assert (await pay_api.post(refund, json={"product_ids": [o["pb"]]},
                               headers=o["b"])).status_code == 422  # a reason is required
    assert (await pay_api.post(refund, json={"reason": "x"},
                               headers=o["buyer"])).status_code == 403
    assert fake_ecpay.refunds == []

    partial = await pay_api.post(refund, json={"reason": "out of stock in the warehouse"},
                                 headers=o["b"])
    assert partial.status_code == 200, partial.text
    assert partial.json()["status"] == "paid"  # A's line is still to ship
    assert [(i["product_id"], i["status"]) for i in partial.json()["items"]] == [
        (o["pb"], "refunded")]
    assert [r["TotalAmount"] for r in fake_ecpay.refunds] == ["500"]  # a partial refund
    assert (await stock_of(pay_ctx, o["pa"]), await stock_of(pay_ctx, o["pb"])) == (3, 5)
    twice = await pay_api.post(refund, json={"reason": "again"}, headers=o["b"])
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_refunded"
    assert len(fake_ecpay.refunds) == 1 and await stock_of(pay_ctx, o["pb"]) == 5
    assert (await _payment(pay_ctx, o["payment_id"])).status == "succeeded"

    # A ships the rest: every line is shipped or refunded, so the order is fulfilled.
    shipped = await pay_api.post(f"{o['url']}/ship", json={"carrier": "Kerry Express",
                                 "tracking_number": "KE1"}, headers=o["a"])
    assert shipped.status_code == 200 and shipped.json()["status"] == "fulfilled"

    # A returned parcel: the admin refunds A's shipped line; its units were sold, not restocked.
    _, admin = await make_user(pay_ctx, "admin")
    last = await pay_api.post(refund, json={"reason": "parcel returned damaged"}, headers=admin)
    assert last.status_code == 200, last.text
    assert last.json()["status"] == "refunded"
    assert [r["TotalAmount"] for r in fake_ecpay.refunds] == ["500", "2580"]
    assert (await stock_of(pay_ctx, o["pa"]), await stock_of(pay_ctx, o["pb"])) == (3, 5)
    assert (await _payment(pay_ctx, o["payment_id"])).status == "refunded"
    closed = await pay_api.post(refund, json={"reason": "again"}, headers=admin)
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "invalid_transition"
    refunded = await events(pay_ctx, "order.refunded")
    assert [(e.data.status, e.data.product_ids, e.data.amount_minor)  # type: ignore[union-attr]
            for e in refunded] == [("paid", [o["pb"]], 50000), ("refunded", [o["pa"]], 258000)]


async def test_refunding_more_than_was_paid_is_refused_and_changes_nothing(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_ecpay: FakeEcpay
) -> None:
    o = await _paid_mixed_order(pay_api, pay_ctx, fake_ecpay)
    async with pay_ctx.sessions() as session, session.begin():  # e.g. a provider-side discount
        await session.execute(
            update(Payment).where(Payment.id == o["payment_id"]).values(amount_minor=200000)
        )
    _, admin = await make_user(pay_ctx, "admin")
    too_much = await pay_api.post(f"{o['url']}/refund", json={"reason": "all"}, headers=admin)
    assert too_much.status_code == 409
    assert too_much.json()["error"]["code"] == "refund_exceeds_payment"
    assert fake_ecpay.refunds == []
    view = (await pay_api.get(o["url"], headers=admin)).json()
    assert view["status"] == "paid" and {i["status"] for i in view["items"]} == {"open"}
    assert (await stock_of(pay_ctx, o["pa"]), await stock_of(pay_ctx, o["pb"])) == (3, 4)
    assert await events(pay_ctx, "order.refunded") == []


async def test_two_refunds_of_the_same_lines_at_once_refund_once(
    pay_api: httpx.AsyncClient, pay_ctx: AppContext, fake_ecpay: FakeEcpay
) -> None:
    """A double-click on MariaDB: both requests race for the order; the lines are claimed by
    one, the other gets 409, the provider is asked once and the stock returns once."""
    o = await _paid_mixed_order(pay_api, pay_ctx, fake_ecpay)
    answers = await asyncio.gather(*(
        pay_api.post(f"{o['url']}/refund", json={"reason": "double click"}, headers=o["b"])
        for _ in range(2)
    ))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    assert [r["TotalAmount"] for r in fake_ecpay.refunds] == ["500"]
    assert await stock_of(pay_ctx, o["pb"]) == 5
    assert len(await events(pay_ctx, "order.refunded")) == 1
