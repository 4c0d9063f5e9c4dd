"""Who sees which order: the buyer, the sellers of its items and admins; everyone else 404."""

from __future__ import annotations

import dataclasses
import functools

import httpx
import pytest

from commerce.auth import revocations
from commerce.context import AppContext
from commerce.inventory import gate as stock_gate
from commerce.orders.checkout.flow import Checkout
from commerce.orders.schemas import OrderCreate
from shared.errors import Unauthorized, Unavailable
from shared.tokens import (
    denylist_key,
    family_revoked_key,
    revocations_run_key,
    user_revoked_before_key,
)
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import ADDRESS, order_body, stock_of, use_stock_gate


async def test_authorization_matrix(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, seller_h = await make_user(ctx, "seller")
    _, other_seller_h = await make_user(ctx, "seller")
    _, buyer_h = await make_user(ctx)
    _, other_buyer_h = await make_user(ctx)
    _, admin_h = await make_user(ctx, "admin")
    product = await make_product(ctx, seller, stock=5)
    order = (
        await api.post("/api/v1/orders", json=order_body((product.id, 1)), headers=buyer_h)
    ).json()
    url = f"/api/v1/orders/{order['id']}"

    for method, path in (
        ("GET", "/api/v1/orders"), ("GET", url), ("POST", f"{url}/cancel"),
        ("POST", "/api/v1/orders"),
    ):
        anonymous = await api.request(method, path, json=order_body((product.id, 1)))
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.json()["error"]["code"] == "unauthorized"
    bad_token = await api.get(url, headers={"Authorization": "Bearer not-a-jwt"})
    assert bad_token.status_code == 401

    expected = {buyer_h["Authorization"]: 200, seller_h["Authorization"]: 200,
                admin_h["Authorization"]: 200, other_buyer_h["Authorization"]: 404,
                other_seller_h["Authorization"]: 404}
    for auth, status in expected.items():
        response = await api.get(url, headers={"Authorization": auth})
        assert response.status_code == status
        if status == 200:
            assert response.json() == order
        else:
            assert response.json()["error"]["code"] == "not_found"

    # Nobody but the buyer (or an admin) cancels; those who cannot see it get 404.
    assert (await api.post(f"{url}/cancel", headers=other_buyer_h)).status_code == 404
    assert (await api.post(f"{url}/cancel", headers=other_seller_h)).status_code == 404
    forbidden = await api.post(f"{url}/cancel", headers=seller_h)
    assert forbidden.status_code == 403
    assert (await api.post(f"{url}/cancel", headers=admin_h)).status_code == 200

    assert (await api.get("/api/v1/orders/999999999", headers=buyer_h)).status_code == 404


async def test_lists_for_buyer_and_seller_newest_first(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, seller_h = await make_user(ctx, "seller")
    other_seller, other_seller_h = await make_user(ctx, "seller")
    _, buyer_h = await make_user(ctx)
    _, other_buyer_h = await make_user(ctx)
    mine = await make_product(ctx, seller, stock=50)
    theirs = await make_product(ctx, other_seller, stock=50)
    ids = []
    for i in range(5):
        lines = [(mine.id, 1)] if i % 2 == 0 else [(theirs.id, 1)]
        response = await api.post("/api/v1/orders", json=order_body(*lines), headers=buyer_h)
        ids.append(response.json()["id"])
    await api.post("/api/v1/orders", json=order_body((theirs.id, 1)), headers=other_buyer_h)

    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/api/v1/orders", params=params, headers=buyer_h)).json()
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]

    as_seller = await api.get("/api/v1/orders", params={"as": "seller"}, headers=seller_h)
    assert [o["id"] for o in as_seller.json()["items"]] == [ids[4], ids[2], ids[0]]
    page1 = (await api.get(
        "/api/v1/orders", params={"as": "seller", "limit": 2}, headers=other_seller_h
    )).json()
    page2 = (await api.get(
        "/api/v1/orders",
        params={"as": "seller", "limit": 2, "cursor": page1["next_cursor"]},
        headers=other_seller_h,
    )).json()
    assert len(page1["items"]) == 2 and len(page2["items"]) == 1
    assert page2["next_cursor"] is None
    assert all(i["seller_id"] == other_seller.id
               for o in page1["items"] + page2["items"] for i in o["items"])

    buyer_as_seller = await api.get("/api/v1/orders", params={"as": "seller"}, headers=buyer_h)
    assert buyer_as_seller.status_code == 403


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"cursor": "%%%"}, {"cursor": "WzEsMl0"},
     {"as": "admin"}],
)
async def test_bad_list_parameters_are_422(
    api: httpx.AsyncClient, ctx: AppContext, params: dict[str, object]
) -> None:
    _, headers = await make_user(ctx)
    response = await api.get("/api/v1/orders", params=params, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] in ("invalid", "invalid_cursor")


@pytest.mark.parametrize("order_id", ["0", "-1", "abc", str(2**64), "1.5"])
async def test_bad_order_ids_are_422(
    api: httpx.AsyncClient, ctx: AppContext, order_id: str
) -> None:
    _, headers = await make_user(ctx)
    for method, suffix in (("GET", ""), ("POST", "/cancel")):
        response = await api.request(method, f"/api/v1/orders/{order_id}{suffix}", headers=headers)
        assert response.status_code == 422, (order_id, response.text)


@pytest.mark.parametrize("gate", ["gate-on", "gate-off"])
@pytest.mark.parametrize("mark", ["jti", "user", "family"])
async def test_revoked_tokens_are_refused_and_take_nothing(
    api: httpx.AsyncClient, ctx: AppContext, monkeypatch: pytest.MonkeyPatch, mark: str,
    gate: str,
) -> None:
    """Whichever mark revokes the token (logout's jti, the user's revoked-before epoch, the
    refresh family) and whichever way the route checks it (with the stock gate's script, or on
    its own), a revoked token gets 401: no order, no units taken, no replay of its stored
    response, not even for a request the gate would reject."""
    use_stock_gate(monkeypatch, api, ctx, gate == "gate-on")
    seller, _ = await make_user(ctx, "seller")
    buyer, _ = await make_user(ctx)
    product = await make_product(ctx, seller, stock=3)
    token, principal = ctx.tokens.issue_access(
        user_id=buyer.id, role="buyer", name="B", family="family-1"
    )
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k1"}
    first = await api.post("/api/v1/orders", json=order_body((product.id, 1)), headers=headers)
    assert first.status_code == 201, first.text

    key, value = {
        "jti": (denylist_key(principal.jti), "1"),
        "user": (user_revoked_before_key(buyer.id), str(principal.issued_at)),
        "family": (family_revoked_key("family-1"), "1"),
    }[mark]
    await ctx.redis.set(key, value, ex=600)
    for body, idem_key in (
        (order_body((product.id, 1)), "k1"),  # would replay the stored 201
        (order_body((product.id, 1)), "k2"),  # would be a new order
        (order_body((product.id, 50)), "k3"),  # would be a gate (or DB) 409
        ({"from_cart": True, "shipping_address": ADDRESS}, "k4"),
    ):
        response = await api.post(
            "/api/v1/orders", json=body, headers={**headers, "Idempotency-Key": idem_key}
        )
        assert response.status_code == 401, (body, response.text)
        assert response.json()["error"]["code"] == "unauthorized"
    assert await stock_of(ctx, product.id) == 2
    gate_value = await ctx.redis.get(stock_gate.key(product.id))
    assert (int(gate_value) if gate_value is not None else None) == (
        2 if gate == "gate-on" else None
    )


@pytest.mark.parametrize("mark", ["jti", "user", "family"])
async def test_fast_path_asks_the_database_while_redis_lacks_the_marks(
    ctx: AppContext, mark: str
) -> None:
    """A Redis that restarted without its last second (or lost everything) holds a run the
    revocation marks were not restored into: the fast path's one round trip must not read "no
    mark" as "not revoked" (it did, until RevocationGuard restored the marks about a second
    later). A token revoked only in the database gets 401 and takes nothing; an unrevoked one
    still buys. No guard runs here (no app), so the window stays open for the whole test."""
    checkout = Checkout.build(
        ctx.settings.updated(orders={"stock_gate_enabled": True}),
        redis=ctx.redis, sessions=ctx.sessions, gate=ctx.stock_gate,
        revoked_in_db=functools.partial(revocations.is_revoked_in_db, ctx),
    )
    seller, _ = await make_user(ctx, "seller")
    buyer, _ = await make_user(ctx)
    product = await make_product(ctx, seller, stock=3)
    _, gone = ctx.tokens.issue_access(user_id=buyer.id, role="buyer", name="B", family="fam-1")
    _, kept = ctx.tokens.issue_access(user_id=buyer.id, role="buyer", name="B", family="fam-2")
    async with ctx.sessions() as session, session.begin():
        if mark == "jti":
            await revocations.record_jti(session, jti=gone.jti, ttl_s=600)
        elif mark == "family":
            await revocations.record_family(session, family="fam-1", ttl_s=600)
        else:  # revoked before `kept` was issued: issue `kept` again a second later
            await revocations.record_user_before(
                session, user_id=buyer.id, before=gone.issued_at, ttl_s=600)
            kept = dataclasses.replace(kept, issued_at=gone.issued_at + 1)
    await ctx.redis.set(revocations_run_key(), "a-run-before-the-restart")
    body = OrderCreate.model_validate(order_body((product.id, 1)))

    for key in ("k1", None):
        with pytest.raises(Unauthorized):
            await checkout.place_order(principal=gone, body=body, idempotency_key=key,
                                       revocation_checked=False)
    assert await stock_of(ctx, product.id) == 3
    assert await ctx.redis.get(stock_gate.key(product.id)) in (None, "3")
    placed = await checkout.place_order(principal=kept, body=body, idempotency_key="k2",
                                        revocation_checked=False)
    assert placed.status_code == 201
    assert await stock_of(ctx, product.id) == 2
    assert await ctx.redis.get(stock_gate.key(product.id)) == "2"

    # Without the database's answer, the checkout refuses (503) rather than guess.
    blind = Checkout.build(
        ctx.settings.updated(orders={"stock_gate_enabled": True}),
        redis=ctx.redis, sessions=ctx.sessions, gate=ctx.stock_gate,
    )
    with pytest.raises(Unavailable):
        await blind.place_order(principal=kept, body=body, idempotency_key="k3",
                                revocation_checked=False)
    assert await stock_of(ctx, product.id) == 2
