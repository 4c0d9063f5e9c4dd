"""End to end on the production shape: `python -m commerce`, a Celery worker on RabbitMQ and a
`python -m realtime` gateway, MariaDB and Redis, with the fake ECPay over HTTP. Order placed in a
stream → payment → signed notification → task on the "payments" queue → order paid with
`order.paid` in the outbox → relayed: `order_paid` to the stream room, `order_status` to the
buyer's sockets. The same notification again has no effect (no second `order_paid`); a forged
one is 400; a wrong amount does not pay."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from commerce.context import AppContext
from commerce.orders.models import Order
from commerce.payments.models import PaymentNotification
from commerce.streams import service as streams
from commerce.streams.schemas import StreamCreate
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import events, order_body
from tests.fakes.payments.ecpay import FakeEcpay
from tests.helpers.procs import free_port, spawn, wait_http
from tests.helpers.waiting import until
from tests.realtime.clients import Client

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
pytestmark = pytest.mark.shared_rabbitmq  # its worker consumes the shared queues


async def test_worker_settles_ecpay_notification(
    service_env: dict[str, str], ctx: AppContext, fake_ecpay: FakeEcpay
) -> None:
    port, gateway_port = free_port(), free_port()
    env = {**service_env, "CELERY_BROKER_URL": BROKER, "ECPAY_BASE_URL": fake_ecpay.base_url}
    seller, _ = await make_user(ctx, "seller")
    _, buyer = await make_user(ctx)
    product = await make_product(ctx, seller, price="1290.00", currency="TWD", stock=5)
    # Through the service, so the gateway's view (shared.livedata) has the stream and lineup.
    stream = await streams.create_stream(
        ctx, host_id=seller.id, data=StreamCreate(title="Flash sale", product_ids=[product.id])
    )
    watcher, shopper = Client("watcher"), Client("buyer")

    async def order_status(order_id: int) -> str:
        async with ctx.sessions() as session:
            return str(await session.scalar(select(Order.status).where(Order.id == order_id)))

    async def notes() -> list[PaymentNotification]:
        async with ctx.sessions() as session:
            query = select(PaymentNotification).order_by(PaymentNotification.id)
            return list((await session.scalars(query)).all())

    with (
        spawn([sys.executable, "-m", "commerce", "--port", str(port)], name="commerce",
              env=env) as api_proc,
        spawn([sys.executable, "-m", "celery", "-A", "commerce.worker", "worker", "--pool",
               "solo", "-Q", "payments", "-n", f"pay-{uuid.uuid4().hex[:6]}@%h",
               "--without-gossip", "--without-mingle", "-l", "info"],
              name="celery-payments", env=env) as worker,
        spawn([sys.executable, "-m", "realtime", "--port", str(gateway_port), "--node-id",
               "gw-e2e"], name="gateway", env=service_env) as gateway_proc,
    ):
        base, gateway = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{gateway_port}"
        wait_http(f"{base}/healthz", proc=api_proc)
        wait_http(f"{gateway}/healthz", proc=gateway_proc, timeout=30)
        async with (
            httpx.AsyncClient(base_url=base, timeout=10) as api,
            httpx.AsyncClient() as web,
            _closing(watcher, shopper),
        ):
            await watcher.connect(gateway)  # anonymous viewer
            await watcher.join(stream.id)
            await shopper.connect(gateway, buyer["Authorization"].removeprefix("Bearer "))

            async def checkout() -> tuple[int, str]:
                order = await api.post("/api/v1/orders", headers=buyer,
                                       json=order_body((product.id, 1), stream_id=stream.id))
                assert order.status_code == 201, order.text
                pay = await api.post(f"/api/v1/orders/{order.json()['id']}/payments",
                                     json={"method": "ecpay"}, headers=buyer)
                assert pay.status_code == 201, pay.text
                action = pay.json()["action"]
                assert (await web.post(action["url"], data=action["fields"])).status_code == 200
                return order.json()["id"], action["fields"]["MerchantTradeNo"]

            order_id, trade_no = await checkout()
            headers, body = fake_ecpay.notification(trade_no)
            resp = await api.post("/api/v1/payments/webhooks/ecpay", content=body,
                                  headers=headers)
            assert (resp.status_code, resp.text) == (200, "1|OK")
            await until(lambda: _is(order_status(order_id), "paid"), "order paid")
            worker.check_alive()
            assert "payments.process_notification" in worker.log()
            [paid] = await events(ctx, "order.paid")
            assert paid.data.order_id == order_id
            assert paid.stream_id == stream.id

            [room_paid] = await watcher.wait_for(lambda: watcher.of("order_paid"), timeout=15)
            assert room_paid == {"stream_id": stream.id, "order_id": order_id,
                                 "seq": room_paid["seq"], "epoch": room_paid["epoch"]}
            assert isinstance(room_paid["seq"], int) and room_paid["seq"] > 0
            [status] = await shopper.wait_for(lambda: shopper.of("order_status"), timeout=15)
            assert status == {"order_id": order_id, "status": "paid", "stream_id": stream.id}

            again = await api.post("/api/v1/payments/webhooks/ecpay", content=body,
                                   headers=headers)
            assert again.text == "1|OK"

            forger = FakeEcpay(hash_key="F" * 16)
            forger.trades = fake_ecpay.trades
            forged_headers, forged = forger.notification(trade_no)
            rejected = await api.post("/api/v1/payments/webhooks/ecpay", content=forged,
                                      headers=forged_headers)
            assert rejected.status_code == 400
            assert rejected.json()["error"]["code"] == "invalid_signature"

            short_order, short_trade = await checkout()
            headers, short = fake_ecpay.notification(short_trade, amount=1)
            assert (await api.post("/api/v1/payments/webhooks/ecpay", content=short,
                                   headers=headers)).text == "1|OK"
            settled = await until(
                lambda: _processed(notes(), 2), "the wrong-amount notification settled"
            )
            assert [n.result for n in settled] == ["paid", "amount_mismatch"]
            assert await order_status(short_order) == "pending_payment"
            assert await order_status(order_id) == "paid"
            assert len(await events(ctx, "order.paid")) == 1  # the duplicate changed nothing

            # Barrier: cancelling the unpaid order relays `stock` to the room (and
            # `order_status` to the buyer) after anything the duplicate could have caused.
            cancel = await api.post(f"/api/v1/orders/{short_order}/cancel", headers=buyer)
            assert cancel.status_code == 200, cancel.text
            await shopper.wait_for(
                lambda: [s for s in shopper.of("order_status") if s["status"] == "cancelled"]
            )
            await watcher.wait_for(lambda: _restocked_after(watcher, room_paid["seq"]))
            assert watcher.of("order_paid") == [room_paid]  # exactly once
            assert [s["status"] for s in shopper.of("order_status")] == ["paid", "cancelled"]


@contextlib.asynccontextmanager
async def _closing(*clients: Client) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


def _restocked_after(watcher: Client, seq: int) -> bool:
    """The room saw a `stock` event with the product back at 4 after `order_paid` (`seq`)."""
    return any(e["seq"] > seq and e["stock"] == 4 for e in watcher.of("stock"))


async def _is(value: Any, expected: str) -> bool:
    return bool(await value == expected)


async def _processed(rows: Any, count: int) -> list[PaymentNotification] | None:
    found = await rows
    done = [n for n in found if n.processed_at is not None]
    return found if len(found) == count and len(done) == count else None
