"""Products over HTTP on MariaDB: create/read/update/delete and who may do what."""

from __future__ import annotations

import httpx
import pytest

from commerce.context import AppContext
from tests.commerce.factories import make_product, make_user

BODY = {
    "name": "藍牙耳機 Pro",
    "description": "降噪 noise cancelling",
    "price": "1290.00",
    "stock": 5,
    "attributes": {"color": "black", "weight_g": 52},
    "images": ["https://cdn.example.com/p/1.jpg", "https://cdn.example.com/p/2.jpg"],
}


async def test_seller_creates_reads_updates_and_deletes(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, headers = await make_user(ctx, "seller", market="TW")
    created = await api.post("/api/v1/products", json=BODY, headers=headers)
    assert created.status_code == 201, created.text
    product = created.json()
    assert product["seller_id"] == seller.id
    assert product["price"] == "1290.00"
    assert product["currency"] == "TWD"  # from the seller's market
    assert product["attributes"] == {"color": "black", "weight_g": 52}
    assert product["images"] == BODY["images"]
    assert set(product) == {
        "id", "seller_id", "name", "description", "price", "currency", "stock",
        "limit_per_buyer", "attributes", "images", "created_at", "updated_at",
    }
    assert product["limit_per_buyer"] is None  # no limit unless the seller sets one

    url = f"/api/v1/products/{product['id']}"
    fetched = await api.get(url)
    assert fetched.status_code == 200
    assert fetched.json() == product

    patched = await api.patch(url, json={"price": 999.5, "name": "  新名字 "}, headers=headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["price"] == "999.50"
    assert patched.json()["name"] == "新名字"
    assert patched.json()["stock"] == 5  # untouched fields stay

    # The limit per buyer: set, kept by other edits, cleared with null (the one nullable field).
    limited = await api.patch(url, json={"limit_per_buyer": 2}, headers=headers)
    assert limited.status_code == 200 and limited.json()["limit_per_buyer"] == 2
    kept = await api.patch(url, json={"stock": 6}, headers=headers)
    assert kept.json()["limit_per_buyer"] == 2
    for bad in (0, -1, "2", 1.5):
        refused = await api.patch(url, json={"limit_per_buyer": bad}, headers=headers)
        assert refused.status_code == 422, (bad, refused.text)
    assert (await api.patch(url, json={"stock": None}, headers=headers)).status_code == 422
    cleared = await api.patch(url, json={"limit_per_buyer": None}, headers=headers)
    assert cleared.status_code == 200 and cleared.json()["limit_per_buyer"] is None
    created_limited = await api.post(
        "/api/v1/products", json={**BODY, "limit_per_buyer": 1}, headers=headers
    )
    assert created_limited.status_code == 201, created_limited.text
    assert created_limited.json()["limit_per_buyer"] == 1
    assert (await api.delete(f"/api/v1/products/{created_limited.json()['id']}",
                             headers=headers)).status_code == 204

    deleted = await api.delete(url, headers=headers)
    assert deleted.status_code == 204
    assert (await api.get(url)).status_code == 404
    assert (await api.delete(url, headers=headers)).status_code == 404
    assert (await api.patch(url, json={"stock": 1}, headers=headers)).status_code == 404
    listed = (await api.get("/api/v1/products")).json()
    assert listed == {"items": [], "next_cursor": None}


async def test_currency_defaults_to_market_and_may_be_chosen(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    _, thai = await make_user(ctx, "seller", market="TH")
    default = await api.post("/api/v1/products", json=BODY, headers=thai)
    assert default.json()["currency"] == "THB"
    chosen = await api.post("/api/v1/products", json={**BODY, "currency": "TWD"}, headers=thai)
    assert chosen.json()["currency"] == "TWD"


@pytest.mark.parametrize(
    ("who", "create", "write"),
    [
        ("anonymous", 401, 401),
        ("buyer", 403, 403),
        ("other_seller", 201, 404),
        ("owner", 201, 200),
        ("admin", 201, 200),
    ],
)
async def test_authorization_matrix(
    api: httpx.AsyncClient, ctx: AppContext, who: str, create: int, write: int
) -> None:
    owner, owner_headers = await make_user(ctx, "seller")
    product = await make_product(ctx, owner)
    headers = {
        "anonymous": {},
        "buyer": (await make_user(ctx, "buyer"))[1],
        "other_seller": (await make_user(ctx, "seller"))[1],
        "owner": owner_headers,
        "admin": (await make_user(ctx, "admin"))[1],
    }[who]
    url = f"/api/v1/products/{product.id}"

    assert (await api.post("/api/v1/products", json=BODY, headers=headers)).status_code == create
    patch = await api.patch(url, json={"stock": 3}, headers=headers)
    assert patch.status_code == write, patch.text
    expected_code = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(write)
    if expected_code:
        assert patch.json()["error"]["code"] == expected_code
    delete = await api.delete(url, headers=headers)
    assert delete.status_code == (204 if write == 200 else write)
    # Reading is open to everyone, before any delete.
    assert (await api.get("/api/v1/products", headers=headers)).status_code == 200


async def test_unknown_and_malformed_ids(api: httpx.AsyncClient, ctx: AppContext) -> None:
    _, headers = await make_user(ctx, "seller")
    assert (await api.get("/api/v1/products/999999")).json()["error"]["code"] == "not_found"
    assert (await api.get("/api/v1/products/abc")).status_code == 422
    assert (await api.get("/api/v1/products/0")).status_code == 422
    assert (await api.get(f"/api/v1/products/{2**70}")).status_code == 422
    missing = await api.patch("/api/v1/products/999999", json={"stock": 1}, headers=headers)
    assert missing.status_code == 404


async def test_list_by_seller_pages_newest_first_and_is_stable(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, _ = await make_user(ctx, "seller")
    other, _ = await make_user(ctx, "seller")
    mine = [await make_product(ctx, seller) for _ in range(5)]
    await make_product(ctx, other)

    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"seller_id": seller.id, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/api/v1/products", params=params)).json()
        seen.extend(item["id"] for item in page["items"])
        if len(seen) == 2:
            await make_product(ctx, seller)  # a new product must not shift later pages
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted((p.id for p in mine), reverse=True)

    assert (await api.get("/api/v1/products", params={"cursor": "%%%"})).status_code == 422
    bad = await api.get("/api/v1/products", params={"cursor": "WyJ4Il0"})  # ["x"]
    assert bad.json()["error"]["code"] == "invalid_cursor"
    assert (await api.get("/api/v1/products", params={"limit": 0})).status_code == 422
    assert (await api.get("/api/v1/products", params={"limit": 101})).status_code == 422


async def test_deactivated_seller_with_a_live_token_cannot_create(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    _, headers = await make_user(ctx, "seller", is_active=False)
    response = await api.post("/api/v1/products", json=BODY, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
