"""Shipping per seller, `fulfilled` once every line has shipped, completion by the buyer and by
the beat, and the seller's own view of a mixed order."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx

from commerce.context import AppContext
from commerce.db import utcnow
from commerce.orders import fulfilment, state
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import events, mixed_order, order_body

SHIP = {"carrier": "黑貓宅急便", "tracking_number": "TW-123456789"}


async def _mixed_paid_order(api: httpx.AsyncClient, ctx: AppContext) -> dict[str, Any]:
    """A paid order with one line of seller A (2 units) and one of seller B."""
    order = await mixed_order(api, ctx)
    async with ctx.sessions() as session, session.begin():
        assert (await state.transition(session, order["id"], "paid")).matched
    return order


async def test_each_seller_ships_their_lines_then_the_buyer_completes(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    o = await _mixed_paid_order(api, ctx)
    url = o["url"]
    _, stranger = await make_user(ctx, "seller")
    assert (await api.post(f"{url}/ship", json=SHIP, headers=stranger)).status_code == 404
    assert (await api.post(f"{url}/ship", json=SHIP, headers=o["buyer"])).status_code == 403
    bad = await api.post(f"{url}/ship", json={**SHIP, "tracking_number": "<script>"},
                         headers=o["a"])
    assert bad.status_code == 422
    early = await api.post(f"{url}/complete", headers=o["buyer"])
    assert early.status_code == 409 and early.json()["error"]["code"] == "invalid_transition"

    first = await api.post(f"{url}/ship", json=SHIP, headers=o["a"])
    assert first.status_code == 200, first.text
    seen_by_a = first.json()
    assert seen_by_a["status"] == "paid"
    assert [i["product_id"] for i in seen_by_a["items"]] == [o["pa"]]  # only A's line
    assert seen_by_a["total"] == "2580.00"
    assert seen_by_a["items"][0]["status"] == "shipped"
    assert [(s["carrier"], s["product_ids"]) for s in seen_by_a["shipments"]] == [
        ("黑貓宅急便", [o["pa"]])]
    twice = await api.post(f"{url}/ship", json=SHIP, headers=o["a"])
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_shipped"

    second = await api.post(f"{url}/ship", json={"carrier": "Kerry Express",
                                                 "tracking_number": "KE 998877"}, headers=o["b"])
    assert second.status_code == 200 and second.json()["status"] == "fulfilled"
    whole = (await api.get(url, headers=o["buyer"])).json()
    assert whole["status"] == "fulfilled" and whole["fulfilled_at"]
    assert whole["total"] == "3080.00" and len(whole["shipments"]) == 2
    assert {i["status"] for i in whole["items"]} == {"shipped"}

    fulfilled = await api.get("/api/v1/orders", params={"as": "seller", "status": "fulfilled"},
                              headers=o["b"])
    assert [(x["id"], x["total"]) for x in fulfilled.json()["items"]] == [(o["id"], "500.00")]
    paid = await api.get("/api/v1/orders", params={"as": "seller", "status": "paid"},
                         headers=o["b"])
    assert paid.json()["items"] == []
    assert (await api.get("/api/v1/orders", params={"status": "bogus"},
                          headers=o["b"])).status_code == 422

    assert (await api.post(f"{url}/complete", headers=o["a"])).status_code == 403
    done = await api.post(f"{url}/complete", headers=o["buyer"])
    assert done.status_code == 200 and done.json()["status"] == "completed"
    again = await api.post(f"{url}/complete", headers=o["buyer"])
    assert again.status_code == 409
    shipped = await events(ctx, "order.shipped", "order.completed")
    assert [(e.type, e.data.status) for e in shipped] == [  # type: ignore[union-attr]
        ("order.shipped", "paid"), ("order.shipped", "fulfilled"),
        ("order.completed", "completed")]


async def test_unpaid_orders_do_not_ship_and_the_beat_completes_old_fulfilled_orders(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, seller_h = await make_user(ctx, "seller")
    _, buyer_h = await make_user(ctx)
    product = await make_product(ctx, seller, stock=5)
    pending = (await api.post("/api/v1/orders", json=order_body((product.id, 1)),
                              headers=buyer_h)).json()
    refused = await api.post(f"/api/v1/orders/{pending['id']}/ship", json=SHIP, headers=seller_h)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "invalid_transition"

    old = await _mixed_paid_order(api, ctx)
    for seller_h in (old["a"], old["b"]):
        assert (await api.post(f"{old['url']}/ship", json=SHIP,
                               headers=seller_h)).status_code == 200
    days = ctx.settings.orders.auto_complete_days
    assert await fulfilment.complete_due(ctx, now=utcnow() + timedelta(days=days - 1)) == 0
    assert await fulfilment.complete_due(ctx, now=utcnow() + timedelta(days=days + 1)) == 1
    assert await fulfilment.complete_due(ctx, now=utcnow() + timedelta(days=days + 1)) == 0
    assert (await api.get(old["url"], headers=old["buyer"])).json()["status"] == "completed"


async def test_two_sellers_shipping_at_once_fulfil_the_order(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    """Both parcels race for the order row: whichever commits second sees every line shipped,
    so the order cannot stay `paid` with nothing left to ship."""
    o = await _mixed_paid_order(api, ctx)
    answers = await asyncio.gather(*(
        api.post(f"{o['url']}/ship", json=SHIP, headers=headers) for headers in (o["a"], o["b"])
    ))
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert sorted(a.json()["status"] for a in answers) == ["fulfilled", "paid"]
    assert (await api.get(o["url"], headers=o["buyer"])).json()["status"] == "fulfilled"
