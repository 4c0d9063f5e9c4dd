"""Placing orders over HTTP on MariaDB + Redis: the happy path, out of stock leaving nothing
reserved, events in the outbox, and the Redis stock gate."""

from __future__ import annotations

import json

import httpx

from commerce.context import AppContext
from commerce.inventory import gate as stock_gate
from commerce.orders.checkout import answers as idem
from commerce.orders.checkout import fastpath
from shared import events as ev
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import (
    ADDRESS,
    events,
    make_stream,
    order_body,
    order_count,
    stock_of,
)
from tests.conftest import single_redis_only


async def test_happy_path_reserves_stock_and_writes_events(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, _ = await make_user(ctx, "seller")
    buyer, headers = await make_user(ctx, display_name="Mei Li")
    earbuds = await make_product(ctx, seller, name="藍牙耳機", price="1290.00", stock=5)
    case = await make_product(ctx, seller, name="Case", price="99.50", stock=2)
    stream_id = await make_stream(ctx, seller.id, "live")

    response = await api.post(
        "/api/v1/orders",
        json=order_body((case.id, 2), (earbuds.id, 1), stream_id=stream_id),
        headers=headers,
    )
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "pending_payment"
    assert order["currency"] == "TWD"
    assert order["total"] == "1489.00"
    assert order["stream_id"] == stream_id
    assert order["buyer_id"] == buyer.id
    assert order["shipping_address"]["city"] == "Taipei"
    assert order["expires_at"] > order["created_at"]
    assert [(i["product_id"], i["name"], i["unit_price"], i["quantity"], i["line_total"])
            for i in order["items"]] == [
        (earbuds.id, "藍牙耳機", "1290.00", 1, "1290.00"),
        (case.id, "Case", "99.50", 2, "199.00"),
    ]
    assert await stock_of(ctx, earbuds.id) == 4
    assert await stock_of(ctx, case.id) == 0

    fetched = await api.get(f"/api/v1/orders/{order['id']}", headers=headers)
    assert fetched.status_code == 200
    assert fetched.json() == order

    placed = await events(ctx, "order.placed")
    assert len(placed) == 1
    assert isinstance(placed[0], ev.OrderPlaced)
    assert placed[0].stream_id == stream_id
    assert placed[0].data.buyer_masked == "M***i"
    assert placed[0].data.order_id == order["id"]
    assert placed[0].data.total_minor == 148900
    stock_events = await events(ctx, "stock.changed", "product.sold_out")
    assert all(e.stream_id == stream_id for e in stock_events)
    assert {(e.type, e.data.product_id, getattr(e.data, "stock", None)) for e in stock_events} == {
        ("stock.changed", earbuds.id, 4),
        ("stock.changed", case.id, 0),
        ("product.sold_out", case.id, None),
    }


async def test_out_of_stock_on_second_line_reserves_nothing(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, _ = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    plenty = await make_product(ctx, seller, stock=10)
    scarce = await make_product(ctx, seller, stock=1)
    before = await events(ctx)

    response = await api.post(
        "/api/v1/orders", json=order_body((plenty.id, 3), (scarce.id, 2)), headers=headers
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"] == {
        "code": "out_of_stock",
        "message": "not enough stock",
        "details": {"product_id": scarce.id, "available": 1},
    }
    assert await stock_of(ctx, plenty.id) == 10
    assert await stock_of(ctx, scarce.id) == 1
    assert await order_count(ctx) == 0
    assert await events(ctx) == before
    # The gate got its units back: it never ends below what the database has.
    assert int(await ctx.redis.get(stock_gate.key(plenty.id))) == 10
    assert int(await ctx.redis.get(stock_gate.key(scarce.id))) == 1


async def test_db_guard_decides_when_the_gate_is_too_high(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    """A stale gate above the real stock must not oversell: the conditional UPDATE refuses."""
    seller, _ = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=1)
    await ctx.redis.set(stock_gate.key(product.id), 100, ex=60)

    first = await api.post("/api/v1/orders", json=order_body((product.id, 1)), headers=headers)
    second = await api.post("/api/v1/orders", json=order_body((product.id, 1)), headers=headers)
    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["error"]["details"] == {"product_id": product.id, "available": 0}
    assert await stock_of(ctx, product.id) == 0
    assert int(await ctx.redis.get(stock_gate.key(product.id))) == 99


async def test_gate_rejects_without_db_and_heals_from_the_database(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    """A gate left too low (a crash between taking units and giving them back) only causes
    false out_of_stock until its key expires and is reloaded from the database."""
    seller, _ = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=3)
    key = stock_gate.key(product.id)
    await ctx.redis.set(key, 0, ex=ctx.settings.orders.stock_gate_ttl_s)

    rejected = await api.post("/api/v1/orders", json=order_body((product.id, 1)), headers=headers)
    assert rejected.status_code == 409
    assert rejected.json()["error"]["details"] == {"product_id": product.id, "available": 0}
    assert await stock_of(ctx, product.id) == 3

    await ctx.redis.delete(key)  # what the TTL does
    healed = await api.post("/api/v1/orders", json=order_body((product.id, 2)), headers=headers)
    assert healed.status_code == 201, healed.text
    assert int(await ctx.redis.get(key)) == 1
    assert 0 < await ctx.redis.ttl(key) <= ctx.settings.orders.stock_gate_ttl_s


async def test_restock_by_the_seller_is_buyable_at_once(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    """A sold-out product restocked by PATCH must not keep answering out_of_stock from the
    gate until its TTL: the catalog drops the gate key with the stock change."""
    seller, seller_headers = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=1)
    first = await api.post("/api/v1/orders", json=order_body((product.id, 1)), headers=headers)
    assert first.status_code == 201, first.text
    sold_out = await api.post("/api/v1/orders", json=order_body((product.id, 1)), headers=headers)
    assert sold_out.status_code == 409
    assert int(await ctx.redis.get(stock_gate.key(product.id))) == 0
    metrics = (await api.get("/metrics")).text
    assert 'orders_rejected_total{reason="out_of_stock"}' in metrics

    restock = await api.patch(
        f"/api/v1/products/{product.id}", json={"stock": 4}, headers=seller_headers
    )
    assert restock.status_code == 200, restock.text
    again = await api.post("/api/v1/orders", json=order_body((product.id, 3)), headers=headers)
    assert again.status_code == 201, again.text
    assert await stock_of(ctx, product.id) == 1


async def test_from_cart_orders_the_cart_and_clears_it(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, _ = await make_user(ctx, "seller")
    buyer, headers = await make_user(ctx)
    a = await make_product(ctx, seller, stock=5)
    b = await make_product(ctx, seller, stock=5)
    body = {"from_cart": True, "shipping_address": ADDRESS}

    empty = await api.post("/api/v1/orders", json=body, headers=headers)
    assert empty.status_code == 422
    assert empty.json()["error"]["code"] == "cart_empty"

    for product, qty in ((a, 2), (b, 1)):
        added = await api.put(
            f"/api/v1/cart/items/{product.id}", json={"quantity": qty}, headers=headers
        )
        assert added.status_code in (200, 201), added.text
    response = await api.post("/api/v1/orders", json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert {(i["product_id"], i["quantity"]) for i in response.json()["items"]} == {
        (a.id, 2), (b.id, 1)
    }
    assert await stock_of(ctx, a.id) == 3
    assert await ctx.redis.exists(f"cart:{buyer.id}") == 0


TAKEN = fastpath.Taken(fastpath.Hold(0, unpaid=False))  # no caps counted: none configured


def _fastpath(ctx: AppContext, **ttls: int) -> fastpath.FastPath:
    gate = stock_gate.StockGate(ctx.redis, ctx.sessions, ttl_s=30)
    return fastpath.FastPath(gate, idem.FirstAnswers(ctx.redis, ctx.sessions, **ttls))


@single_redis_only
async def test_gate_checks_and_records_the_key_in_the_same_round_trip(ctx: AppContext) -> None:
    """The fast path's `take(..., answer=)`: a rejection says whether the success marker
    exists, and when it does not, stores itself as the key's first answer (NX, with its TTL)
    so later takes with the key return it before anything else; a success takes units from the
    gate keys only and sets the marker, with its TTL, before the checkout can store a record
    under the key."""
    seller, _ = await make_user(ctx, "seller")
    product = await make_product(ctx, seller, stock=2)
    gate = _fastpath(ctx, rejection_ttl_s=600)
    short_marker = _fastpath(ctx, rejection_ttl_s=600, marker_ttl_s=60)

    def check(name: str) -> idem.AnswerKey:
        return idem.AnswerKey(0, name, f"digest-{name}", f"test:marker:{name}",
                              f"test:rejection:{name}")

    first, taken, other = check("first"), check("taken"), check("other")
    rejected = await gate.take({product.id: 5}, buyer_id=0, answer=first)
    assert rejected == fastpath.Rejected(product_id=product.id, available=2, marked=False)
    assert await ctx.redis.exists(first.marker_key) == 0
    stored = await ctx.redis.get(first.rejection_key)
    assert json.loads(stored) == {"d": "digest-first", "k": "out_of_stock",
                                  "p": str(product.id), "a": "2"}
    assert 595 <= await ctx.redis.ttl(first.rejection_key) <= 600
    # The first answer comes back before the stock is looked at, even if it would pass now.
    replay = await gate.take({product.id: 1}, buyer_id=0, answer=first)
    assert replay == fastpath.Answered(stored, marked=False)
    assert int(await ctx.redis.get(stock_gate.key(product.id))) == 2

    assert await gate.take({product.id: 1}, buyer_id=0, answer=taken) == TAKEN
    assert int(await ctx.redis.get(taken.marker_key)) == 1
    assert idem.MARKER_TTL_S - 5 <= await ctx.redis.ttl(taken.marker_key) <= idem.MARKER_TTL_S
    rejected = await gate.take({product.id: 5}, buyer_id=0, answer=taken)
    assert rejected == fastpath.Rejected(product_id=product.id, available=1, marked=True)
    assert await ctx.redis.exists(taken.rejection_key) == 0  # the success may be the first
    rejected = await short_marker.take({product.id: 5}, buyer_id=0, answer=other)
    assert rejected == fastpath.Rejected(product_id=product.id, available=1, marked=False)
    await ctx.redis.delete(other.rejection_key)
    assert await short_marker.take({product.id: 1}, buyer_id=0, answer=other) == TAKEN
    assert int(await ctx.redis.get(stock_gate.key(product.id))) == 0
    assert 55 <= await ctx.redis.ttl(other.marker_key) <= 60


@single_redis_only
async def test_a_stored_rejection_keeps_a_bigint_product_id(ctx: AppContext) -> None:
    """The gate's script writes ids as strings: Lua's cjson prints numbers with 14 significant
    digits, which would turn a BIGINT id into another product's."""
    gate = _fastpath(ctx, rejection_ttl_s=60)
    big = 2**62 + 1
    await ctx.redis.set(stock_gate.key(big), 0, ex=30)
    check = idem.AnswerKey(0, "big", "d", "test:marker:big", "test:rejection:big")
    rejected = await gate.take({big: 1}, buyer_id=0, answer=check)
    assert rejected == fastpath.Rejected(product_id=big, available=0, marked=False)
    replayed = idem.FirstAnswers.replay(await ctx.redis.get(check.rejection_key), "d")
    assert (replayed.status, replayed.code) == (409, "out_of_stock")
    assert replayed.details == {"product_id": big, "available": 0}
    # The purchase_limit form likewise (issue 17): a limit of 1 per buyer, 1 unit held.
    await ctx.redis.set(stock_gate.key(big), 5, ex=30)
    await ctx.redis.set(stock_gate.limit_key(big), 1, ex=30)
    await ctx.redis.set(stock_gate.units_key(7, big), 1, ex=30)
    capped_key = idem.AnswerKey(7, "capped", "d2", "test:marker:capped", "test:rejection:capped")
    capped = await gate.take({big: 1}, buyer_id=7, answer=capped_key)
    assert isinstance(capped, fastpath.Capped) and not capped.marked
    assert capped.error.details == {"limit": 1, "kind": "per_product", "product_id": big}
    replayed = idem.FirstAnswers.replay(await ctx.redis.get(capped_key.rejection_key), "d2")
    assert (replayed.status, replayed.code) == (409, "purchase_limit")
    assert replayed.details == {"limit": 1, "kind": "per_product", "product_id": big}
    assert int(await ctx.redis.get(stock_gate.key(big))) == 5  # nothing taken
