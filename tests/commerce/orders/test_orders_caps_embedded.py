"""The purchase caps on `make run`'s embedded default (SQLite, the in-process Redis stand-in),
at their production defaults: concurrent orders of one buyer cannot pass them there either."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx

from tests.commerce.orders.helpers import order_body
from tests.helpers.procs import embedded_platform

PASSWORD = "Live-sale-2026!"


async def _account(http: httpx.AsyncClient, email: str, role: str) -> dict[str, str]:
    reply = await http.post("/api/v1/auth/register", json={
        "email": email, "password": PASSWORD, "display_name": role.title(), "role": role})
    assert reply.status_code == 201, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


async def test_caps_hold_on_the_embedded_default(tmp_path: Path) -> None:
    with embedded_platform(f"sqlite+aiosqlite:///{tmp_path / 'caps.db'}",
                           BCRYPT_ROUNDS="4") as platform:
        async with httpx.AsyncClient(base_url=platform.api, timeout=30) as http:
            seller = await _account(http, "seller@example.test", "seller")
            buyer = await _account(http, "buyer@example.test", "buyer")
            sessions = [buyer]
            for _ in range(9):
                login = await http.post("/api/v1/auth/login", json={
                    "email": "buyer@example.test", "password": PASSWORD})
                assert login.status_code == 200, login.text
                sessions.append({"Authorization": f"Bearer {login.json()['access_token']}"})
            products = []
            for limit in (2, None):
                created = await http.post("/api/v1/products", headers=seller, json={
                    "name": "限量耳機", "price": "990.00", "stock": 50,
                    "limit_per_buyer": limit})
                assert created.status_code == 201, created.text
                products.append(created.json()["id"])
            limited, free = products

            async def wave(product_id: int) -> Counter[tuple[int, str | None]]:
                replies = await asyncio.gather(*(
                    http.post("/api/v1/orders", headers=h, json=order_body((product_id, 1)))
                    for h in sessions
                ))
                return Counter(
                    (r.status_code, r.json().get("error", {}).get("details", {}).get("kind"))
                    for r in replies
                )

            assert await wave(limited) == {(201, None): 2, (409, "per_product"): 8}
            # MAX_UNPAID_ORDERS_PER_BUYER's default, 3: one more order in all.
            assert await wave(free) == {(201, None): 1, (409, "unpaid_orders"): 9}
            mine = (await http.get("/api/v1/orders", headers=buyer)).json()["items"]
            assert len(mine) == 3
            for product_id, left in ((limited, 48), (free, 49)):
                assert (await http.get(f"/api/v1/products/{product_id}")).json()["stock"] == left
        platform.proc.check_alive()
        assert "Traceback" not in platform.proc.log(), platform.proc.describe()
