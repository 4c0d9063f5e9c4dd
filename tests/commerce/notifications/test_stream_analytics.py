"""Stream analytics after a stream with real socket.io viewers (a gateway process), chat,
reactions and orders: live while it runs, frozen after the end. Plus the CSV report."""

from __future__ import annotations

import asyncio
import csv
import io
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from commerce.context import AppContext
from shared import roomstats
from tests.commerce.factories import make_product, make_user
from tests.commerce.notifications.helpers import until
from tests.commerce.orders.helpers import order_body
from tests.helpers.procs import free_port, spawn, wait_http
from tests.realtime.clients import Client


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    await asyncio.gather(*(c.close() for c in made), return_exceptions=True)


async def _analytics(api: httpx.AsyncClient, stream_id: int, headers: dict[str, str]
                     ) -> dict[str, Any]:
    response = await api.get(f"/api/v1/streams/{stream_id}/analytics", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_analytics_match_what_happened_live_and_after_the_end(
    api: httpx.AsyncClient, ctx: AppContext, service_env: dict[str, str], clients: list[Client]
) -> None:
    seller, host = await make_user(ctx, "seller")
    _, admin_headers = await make_user(ctx, "admin")
    _, alice_headers = await make_user(ctx, display_name="Alice")
    _, bob_headers = await make_user(ctx, display_name="Bob")
    product = await make_product(ctx, seller, price="100.00", stock=20)
    created = await api.post("/api/v1/streams", json={"title": "Live", "product_ids": [product.id]},
                             headers=host)
    assert created.status_code == 201, created.text
    stream_id = created.json()["id"]
    went_live = await api.post(f"/api/v1/sandbox/streams/{stream_id}/encoder",
                               json={"connected": True}, headers=host)
    assert went_live.status_code in (200, 204), went_live.text

    port = free_port()
    with spawn([sys.executable, "-m", "realtime", "--port", str(port)], name="gateway",
               env=service_env) as gateway:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", proc=gateway, timeout=30)
        a, b, guest = Client("alice"), Client("bob"), Client("guest")
        clients.extend([a, b, guest])
        await a.connect(url, alice_headers["Authorization"].removeprefix("Bearer "))
        await b.connect(url, bob_headers["Authorization"].removeprefix("Bearer "))
        await guest.connect(url)
        second_tab = Client("alice-2")
        clients.append(second_tab)
        await second_tab.connect(url, alice_headers["Authorization"].removeprefix("Bearer "))
        for c in (a, b, guest, second_tab):
            await c.join(stream_id)
        for c, text in ((a, "hi"), (a, "หูฟังราคาเท่าไหร่"), (b, "我要買")):
            assert (await c.call("chat", {"stream_id": stream_id, "text": text}))["ok"]
        for c, kind in ((a, "heart"), (a, "heart"), (a, "fire"), (guest, "like"),
                        (guest, "like")):
            assert (await c.call("react", {"stream_id": stream_id, "kind": kind}))["ok"]
        await b.call("leave", {"stream_id": stream_id})

        for headers, qty in ((alice_headers, 2), (alice_headers, 1), (bob_headers, 1)):
            placed = await api.post("/api/v1/orders", headers=headers,
                                    json=order_body((product.id, qty), stream_id=stream_id))
            assert placed.status_code == 201, placed.text
        cancel = await api.post(f"/api/v1/orders/{placed.json()['id']}/cancel",
                                headers=bob_headers)
        assert cancel.status_code == 200, cancel.text

        expected = {
            "stream_id": stream_id, "peak_viewers": 3, "unique_viewers": 3,
            "signed_in_viewers": 2, "chat_messages": 3, "reactions": 5, "orders": 2,
            "units_sold": 3, "buyers": 1, "gmv": [{"currency": "TWD", "amount": "300.00"}],
            "conversion_rate": 0.5,
        }

        async def live_matches() -> dict[str, Any] | None:
            got = await _analytics(api, stream_id, host)
            return got if {k: got[k] for k in expected} == expected else None

        live = await until(live_matches, timeout=10, what=f"live analytics == {expected}")
        assert (live["status"], live["final"]) == ("live", False)
        assert (await _analytics(api, stream_id, admin_headers))["orders"] == 2
        other = await api.get(f"/api/v1/streams/{stream_id}/analytics", headers=alice_headers)
        assert other.status_code == 403
        missing = await api.get("/api/v1/streams/999999999/analytics", headers=host)
        assert missing.status_code == 404

        assert (await api.post(f"/api/v1/streams/{stream_id}/end", headers=host)).status_code \
            == 200

        async def frozen() -> dict[str, Any] | None:
            got = await _analytics(api, stream_id, host)
            return got if got["final"] else None

        final = await until(frozen, timeout=15, what="the frozen analytics")
        assert {k: final[k] for k in expected} == expected and final["status"] == "ended"
        # Frozen means read from the table: later counter changes do not move it.
        await ctx.redis.incrby(roomstats.chat_messages(stream_id), 10)
        assert (await _analytics(api, stream_id, host))["chat_messages"] == 3
        assert await ctx.redis.ttl(roomstats.chat_messages(stream_id)) > 0


async def test_orders_csv_is_the_sellers_lines_in_the_period(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, seller_headers = await make_user(ctx, "seller")
    other_seller, _ = await make_user(ctx, "seller")
    _, buyer = await make_user(ctx)
    mine = await make_product(ctx, seller, name="=HYPERLINK(\"x\")", price="1290.50", stock=9)
    theirs = await make_product(ctx, other_seller, name="Not mine", price="10.00", stock=9)
    for product, qty in ((mine, 2), (theirs, 1), (mine, 1)):
        placed = await api.post("/api/v1/orders", json=order_body((product.id, qty)),
                                headers=buyer)
        assert placed.status_code == 201, placed.text
    today = placed.json()["created_at"][:10]
    async with api.stream("GET", "/api/v1/sellers/me/reports/orders.csv",
                          params={"from": today, "to": today}, headers=seller_headers) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/csv")
        body = b"".join([chunk async for chunk in resp.aiter_bytes()]).decode()
    assert body.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))
    assert [(r["product_name"], r["quantity"], r["unit_price"], r["line_total"], r["currency"])
            for r in rows] == [("'=HYPERLINK(\"x\")", "2", "1290.50", "2581.00", "TWD"),
                               ("'=HYPERLINK(\"x\")", "1", "1290.50", "1290.50", "TWD")]

    empty = await api.get("/api/v1/sellers/me/reports/orders.csv",
                          params={"from": "2020-01-01", "to": "2020-01-31"},
                          headers=seller_headers)
    assert empty.status_code == 200 and empty.text.count("\n") == 1  # the header only
    for params in ({"from": today, "to": "2020-01-01"}, {"from": "2020-01-01", "to": today},
                   {"from": "nope", "to": today}, {"to": today}):
        bad = await api.get("/api/v1/sellers/me/reports/orders.csv", params=params,
                            headers=seller_headers)
        assert bad.status_code == 422, (params, bad.text)
    assert (await api.get("/api/v1/sellers/me/reports/orders.csv",
                          params={"from": today, "to": today}, headers=buyer)).status_code == 403
