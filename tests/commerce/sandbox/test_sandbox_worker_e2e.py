"""The sandboxes on the production shape: `python -m commerce` over real HTTP and a Celery
worker on RabbitMQ (run under `flock /tmp/lc-rabbit.lock`). LINE Pay is the case that needs
the worker to reach the sandbox: settlement calls LINE Pay's confirm from the worker, whose
adapter finds the API process's sandbox records in Redis. The ECPay payment goes the
shopper's way: the form post, the sandbox page's Pay button, the redirect to the return page,
whose script (run by Node with a minimal DOM) follows the order to paid without a reload."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from commerce.context import AppContext
from commerce.orders.models import Order
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import order_body
from tests.helpers.node import JS_DIR, node_with_modules
from tests.helpers.procs import free_port, spawn, wait_http

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
pytestmark = pytest.mark.shared_rabbitmq  # its worker consumes the shared queues
RETURN_JS = Path(__file__).resolve().parents[3] / "commerce" / "payments" / "assets" / "return.js"


async def _paid(ctx: AppContext, order_id: int, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while True:
        async with ctx.sessions() as session:
            status = await session.scalar(select(Order.status).where(Order.id == order_id))
        if status == "paid":
            return
        assert time.monotonic() < deadline, f"order {order_id} stayed {status}"
        await asyncio.sleep(0.1)


async def test_sandbox_payments_settle_through_a_worker(
    service_env: dict[str, str], ctx: AppContext
) -> None:
    node = node_with_modules()  # skips without Node.js (CI installs it: .ci/run)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**service_env, "CELERY_BROKER_URL": BROKER, "PAYMENTS_PUBLIC_BASE_URL": base,
           "PAYMENTS_RETURN_URL": f"{base}/payments/return",
           "LINEPAY_SANDBOX": "local", "ECPAY_SANDBOX": "local"}
    seller, _ = await make_user(ctx, "seller", market="TH")
    _, buyer = await make_user(ctx, market="TH")
    baht = await make_product(ctx, seller, price="99.50", currency="THB", stock=5)
    dollars = await make_product(ctx, seller, price="120.00", currency="TWD", stock=5)
    with (
        spawn([sys.executable, "-m", "commerce", "--port", str(port)], name="commerce",
              env=env) as api_proc,
        spawn([sys.executable, "-m", "celery", "-A", "commerce.worker", "worker", "--pool",
               "solo", "-Q", "payments", "-n", f"sandbox-{uuid.uuid4().hex[:6]}@%h",
               "--without-gossip", "--without-mingle", "-l", "info"],
              name="celery-payments", env=env) as worker,
    ):
        wait_http(f"{base}/healthz", proc=api_proc)
        async with httpx.AsyncClient(base_url=base, timeout=20) as api:

            async def pay(product_id: int, method: str) -> tuple[int, dict[str, object]]:
                order = await api.post("/api/v1/orders", headers=buyer,
                                       json=order_body((product_id, 2)))
                assert order.status_code == 201, order.text
                resp = await api.post(f"/api/v1/orders/{order.json()['id']}/payments",
                                      json={"method": method}, headers=buyer)
                assert resp.status_code == 201, resp.text
                return int(order.json()["id"]), resp.json()

            linepay_order, payment = await pay(baht.id, "linepay")
            done = await api.post(f"/api/v1/sandbox/payments/{payment['payment_id']}",
                                  json={"outcome": "paid"}, headers=buyer)
            assert done.status_code == 200 and done.json()["webhook_status"] == 303
            await _paid(ctx, linepay_order)
            worker.check_alive()
            assert "payments.process_notification" in worker.log()

            ecpay_order, payment = await pay(dollars.id, "ecpay")
            action = payment["action"]
            assert isinstance(action, dict) and action["url"].startswith(base)
            ref = action["fields"]["MerchantTradeNo"]
            page_script = subprocess.Popen(
                [node, str(JS_DIR / "return_page.mjs"), base, ref, str(RETURN_JS)],
                stdout=subprocess.PIPE, text=True)
            assert page_script.stdout is not None
            try:
                async with httpx.AsyncClient(timeout=20) as browser:
                    page = await browser.post(action["url"], data=action["fields"])
                    assert page.status_code == 200 and "Pay" in page.text
                    # The return page has answered once (waiting) and is polling meanwhile.
                    first = await asyncio.wait_for(
                        asyncio.to_thread(page_script.stdout.readline), timeout=30)
                    back = await browser.post(f"{base}/sandbox/payments/ecpay/pay/{ref}",
                                              data={"outcome": "paid"}, follow_redirects=True)
                    assert back.status_code == 200 and back.url.path == "/payments/return"
                    assert back.url.params["ref"] == ref
                await _paid(ctx, ecpay_order)
                out, _ = await asyncio.to_thread(page_script.communicate, timeout=40)
            finally:
                if page_script.poll() is None:
                    page_script.kill()
    states = [json.loads(line) for line in [first, *out.splitlines()]]
    assert states[0]["title"] == "Waiting for the payment…"
    assert states[-1] == {"title": "Payment received", "order_status": "paid",
                          "amount": "240.00 TWD"}
    assert page_script.returncode == 0  # it stopped polling once paid
