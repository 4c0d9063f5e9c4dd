"""The whole live sale as a newcomer would run it, over real HTTP and real socket.io clients.

`run_journey` drives a running platform (the embedded default, or the production shape with a
Celery worker) only through its public interface: register, list products, create a stream,
connect the sandbox encoder, go live, join as viewers, pin, order from the stream and pay with
each of the nine methods through the payment sandbox, ship, complete, and refund one seller's
line of a mixed order. Every step asserts what a client would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.commerce.orders.helpers import ADDRESS
from tests.helpers.waiting import until
from tests.realtime.clients import Client

# method -> (currency, extra body): tokens and phone numbers are whatever a sandbox accepts.
METHODS: list[tuple[str, str, dict[str, str]]] = [
    ("ecpay", "TWD", {}),
    ("newebpay", "TWD", {}),
    ("linepay", "TWD", {}),
    ("applepay", "TWD", {"token": "sandbox-apple-pay-prime"}),
    ("googlepay", "TWD", {"token": "sandbox-google-pay-prime"}),
    ("omise_card", "THB", {"token": "tokn_sandbox"}),
    ("promptpay", "THB", {}),
    ("truemoney", "THB", {"phone_number": "0812345678"}),
    ("twoc2p", "THB", {}),
]
SHIP = {"carrier": "黑貓宅急便", "tracking_number": "TCAT-0001"}
# Pays a started payment (payment id, the buyer's headers): the sandbox route, or a test fake.
Pay = Callable[[httpx.AsyncClient, int, dict[str, str]], Awaitable[None]]


async def sandbox_pay(api: httpx.AsyncClient, payment_id: int, buyer: dict[str, str]) -> None:
    """What a script does instead of a person on the sandbox page: choose "paid"."""
    settled = await api.post(f"/api/v1/sandbox/payments/{payment_id}", json={"outcome": "paid"},
                             headers=buyer)
    assert settled.status_code == 200, settled.text


@dataclass
class Account:
    id: int
    headers: dict[str, str]
    token: str


async def register(api: httpx.AsyncClient, role: str, market: str = "TW") -> Account:
    email = f"{role}-{uuid.uuid4().hex[:10]}@journey.test"
    answer = await api.post("/api/v1/auth/register", json={
        "email": email, "password": "Live-sale-2026!", "display_name": f"{role} {email[:12]}",
        "role": role, "market": market,
    })
    assert answer.status_code == 201, answer.text
    body = answer.json()
    token = body["access_token"]
    return Account(body["user"]["id"], {"Authorization": f"Bearer {token}"}, token)


@contextlib.asynccontextmanager
async def sockets(*clients: Client) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def _product(api: httpx.AsyncClient, seller: Account, **fields: Any) -> dict[str, Any]:
    made = await api.post("/api/v1/products", json={"stock": 20, **fields},
                          headers=seller.headers)
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


async def _stock(api: httpx.AsyncClient, product_id: int) -> int:
    return int((await api.get(f"/api/v1/products/{product_id}")).json()["stock"])


async def run_journey(api: httpx.AsyncClient, gateway: str, *, pay: Pay = sandbox_pay) -> None:
    host, other_seller = await register(api, "seller"), await register(api, "seller")
    buyer = await register(api, "buyer")
    fan = await register(api, "buyer")  # follows the host: told when the stream goes live
    followed = await api.post(f"/api/v1/sellers/{host.id}/follow", headers=fan.headers)
    assert followed.status_code == 204, followed.text
    twd = await _product(api, host, name="藍牙耳機 Pro", price="1290.00", currency="TWD")
    thb = await _product(api, host, name="หูฟังบลูทูธ", price="350.00", currency="THB")
    theirs = await _product(api, other_seller, name="Phone case", price="500.00",
                            currency="TWD", stock=5)
    created = await api.post("/api/v1/streams", headers=host.headers, json={
        "title": "Friday flash sale", "product_ids": [twd["id"], thb["id"]]})
    assert created.status_code == 201, created.text
    stream_id = created.json()["id"]

    viewer, shopper, console = Client("viewer"), Client("shopper"), Client("host")
    async with sockets(viewer, shopper, console):
        await viewer.connect(gateway)  # a guest in the waiting room
        await viewer.join(stream_id)
        await shopper.connect(gateway, buyer.token)
        await shopper.join(stream_id)
        await console.connect(gateway, host.token)
        await console.join(stream_id)

        # --- going live: the host's encoder connects in the sandbox, then the host starts.
        start = f"/api/v1/streams/{stream_id}/start"
        early = await api.post(start, headers=host.headers)
        assert early.status_code == 409, early.text
        assert early.json()["error"]["code"] == "encoder_not_connected"
        encoder = await api.post(f"/api/v1/sandbox/streams/{stream_id}/encoder",
                                 json={"connected": True}, headers=host.headers)
        assert encoder.status_code == 200, encoder.text
        started = await api.post(start, headers=host.headers)
        assert started.status_code == 200 and started.json()["status"] == "live", started.text
        live = (await api.get("/api/v1/streams", params={"status": "live"})).json()["items"]
        assert stream_id in [s["id"] for s in live]
        for watcher in (viewer, shopper):
            await watcher.wait_for(lambda w=watcher: [  # type: ignore[misc]
                s for s in w.of("stream_status") if s["status"] == "live"], timeout=10)

        pinned = await console.call("pin", {"stream_id": stream_id, "product_id": twd["id"]})
        assert pinned["ok"], pinned
        [card] = await viewer.wait_for(lambda: viewer.of("product_pinned"), timeout=10)
        assert (card["product"]["id"], card["product"]["price"]) == (twd["id"], "1290.00")

        # --- one order per payment method, each paid through its provider's sandbox.
        order_ids: list[int] = []
        for method, currency, extra in METHODS:
            product = twd if currency == "TWD" else thb
            order = await api.post("/api/v1/orders", headers={
                **buyer.headers, "Idempotency-Key": f"journey-{method}"}, json={
                "items": [{"product_id": product["id"], "quantity": 1}],
                "stream_id": stream_id, "shipping_address": ADDRESS})
            assert order.status_code == 201, order.text
            order_id = order.json()["id"]
            payment = await api.post(f"/api/v1/orders/{order_id}/payments",
                                     json={"method": method, **extra}, headers=buyer.headers)
            assert payment.status_code == 201, (method, payment.text)
            await pay(api, payment.json()["payment_id"], buyer.headers)
            order_ids.append(order_id)
        for order_id in order_ids:
            await until(lambda oid=order_id: _has_status(api, oid, buyer, "paid"),  # type: ignore[misc]
                        f"order {order_id} paid")
        await viewer.wait_for(lambda: {e["order_id"] for e in viewer.of("order_paid")}
                              >= set(order_ids), timeout=15)
        await shopper.wait_for(lambda: _statuses(shopper, "paid") >= set(order_ids), timeout=15)
        assert len(viewer.of("order_paid")) == len(order_ids)  # each exactly once

        # --- the seller ships, the buyer completes; bad moves change nothing.
        first = f"/api/v1/orders/{order_ids[0]}"
        never_shipped = await api.post(f"{first}/complete", headers=buyer.headers)
        assert never_shipped.status_code == 409, never_shipped.text
        not_theirs = await api.post(f"{first}/ship", json=SHIP, headers=other_seller.headers)
        assert not_theirs.status_code == 404, not_theirs.text
        shipped = await api.post(f"{first}/ship", json=SHIP, headers=host.headers)
        assert shipped.status_code == 200 and shipped.json()["status"] == "fulfilled"
        twice = await api.post(f"{first}/ship", json=SHIP, headers=host.headers)
        assert twice.status_code == 409, twice.text
        view = (await api.get(first, headers=buyer.headers)).json()
        assert [(s["carrier"], s["tracking_number"], s["product_ids"])
                for s in view["shipments"]] == [(SHIP["carrier"], SHIP["tracking_number"],
                                                 [twd["id"]])]
        done = await api.post(f"{first}/complete", headers=buyer.headers)
        assert done.status_code == 200 and done.json()["status"] == "completed"
        await shopper.wait_for(lambda: order_ids[0] in _statuses(shopper, "completed"),
                               timeout=15)

        # --- a mixed order: the second seller refunds their own line, and only that.
        mixed = await api.post("/api/v1/orders", headers=buyer.headers, json={
            "items": [{"product_id": twd["id"], "quantity": 1},
                      {"product_id": theirs["id"], "quantity": 2}],
            "stream_id": stream_id, "shipping_address": ADDRESS})
        assert mixed.status_code == 201, mixed.text
        mixed_id = mixed.json()["id"]
        payment = await api.post(f"/api/v1/orders/{mixed_id}/payments",
                                 json={"method": "ecpay"}, headers=buyer.headers)
        assert payment.status_code == 201, payment.text
        await pay(api, payment.json()["payment_id"], buyer.headers)
        await until(lambda: _has_status(api, mixed_id, buyer, "paid"), "mixed order paid")
        assert await _stock(api, theirs["id"]) == 3
        refund = f"/api/v1/orders/{mixed_id}/refund"
        not_mine = await api.post(refund, json={"reason": "x", "product_ids": [theirs["id"]]},
                                  headers=host.headers)
        assert not_mine.status_code == 403, not_mine.text
        refunded = await api.post(refund, json={"reason": "out of stock in the warehouse"},
                                  headers=other_seller.headers)
        assert refunded.status_code == 200, refunded.text
        assert [(i["product_id"], i["status"]) for i in refunded.json()["items"]] == [
            (theirs["id"], "refunded")]
        assert refunded.json()["status"] == "paid"  # the host's line still ships
        assert await _stock(api, theirs["id"]) == 5
        again = await api.post(refund, json={"reason": "again"}, headers=other_seller.headers)
        assert again.status_code == 409, again.text
        assert await _stock(api, theirs["id"]) == 5  # restored once
        whole = (await api.get(f"/api/v1/orders/{mixed_id}", headers=buyer.headers)).json()
        assert {i["product_id"]: i["status"] for i in whole["items"]} == {
            twd["id"]: "open", theirs["id"]: "refunded"}
        to_ship = (await api.get("/api/v1/orders", params={"as": "seller", "status": "paid"},
                                 headers=host.headers)).json()["items"]
        assert mixed_id in [o["id"] for o in to_ship]
        assert all(i["seller_id"] == host.id for o in to_ship for i in o["items"])

    await _notified(api, buyer, fan, orders=len(order_ids) + 1, stream_id=stream_id)


async def _notified(
    api: httpx.AsyncClient, buyer: Account, fan: Account, *, orders: int, stream_id: int
) -> None:
    """What the journey told people: the buyer's emails in the sandbox mailbox (one per order
    and fact, however often events were delivered) and the follower's going-live inbox item."""
    email = (await api.get("/api/v1/users/me", headers=buyer.headers)).json()["email"]
    want = Counter({"order_placed": orders, "order_paid": orders, "order_shipped": 1,
                    "order_refunded": 1})

    async def mailbox_matches() -> bool:
        box = await api.get("/api/v1/sandbox/mailbox", params={"to": email})
        assert box.status_code == 200, box.text
        return Counter(m["kind"] for m in box.json()["items"]) == want

    await until(mailbox_matches, f"the buyer's emails {dict(want)}")

    async def told_live() -> bool:
        inbox = await api.get("/api/v1/users/me/notifications", headers=fan.headers)
        return [(i["kind"], i["data"]["stream_id"]) for i in inbox.json()["items"]] == [
            ("stream_live", stream_id)]

    await until(told_live, "the follower's stream_live notification")


async def _has_status(
    api: httpx.AsyncClient, order_id: int, buyer: Account, status: str
) -> bool:
    answer = await api.get(f"/api/v1/orders/{order_id}", headers=buyer.headers)
    return bool(answer.json().get("status") == status)


def _statuses(client: Client, status: str) -> set[int]:
    return {e["order_id"] for e in client.of("order_status") if e["status"] == status}
