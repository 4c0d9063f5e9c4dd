"""The operational metrics (docs/operations.md) on real, separate API and gateway processes."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import httpx
import socketio

from loadtests.setup import create_fixture
from tests.helpers.procs import free_port, spawn, wait_http

ADDRESS = {"name": "Metrics Probe", "phone": "+886912345678", "line1": "1 Test Rd",
           "city": "Taipei", "postal_code": "100", "country": "TW"}


async def _until_exposed(http: httpx.AsyncClient, url: str, wanted: list[str]) -> str:
    """Scrape until every series appears (reactions are pushed in windows), at most 10 s."""
    text = ""
    for _ in range(100):
        text = (await http.get(url)).text
        if all(w in text for w in wanted):
            return text
        await asyncio.sleep(0.1)
    missing = [w for w in wanted if w not in text]
    raise AssertionError(f"{url} lacks {missing}")


async def test_api_and_gateway_expose_the_operational_metrics(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    api_port, gw_port = free_port(), free_port()
    with (
        spawn([sys.executable, "-m", "commerce", "--port", str(api_port)], name="api",
              env=service_env, log_dir=tmp_path) as api_proc,
        spawn([sys.executable, "-m", "realtime", "--port", str(gw_port)], name="gateway",
              env=service_env, log_dir=tmp_path) as gw_proc,
    ):
        api, gw = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{gw_port}"
        wait_http(f"{api}/readyz", proc=api_proc, timeout=30)
        wait_http(f"{gw}/readyz", proc=gw_proc, timeout=30)
        fx = await create_fixture(api, users=1, products=1)
        stream_id, product_id = fx["stream_id"], fx["product_ids"][0]
        buyer = {"Authorization": f"Bearer {fx['users'][0]['access_token']}"}

        sio = socketio.AsyncClient(reconnection=False)
        await sio.connect(gw, auth={"token": fx["users"][0]["access_token"]},
                          transports=["websocket"], wait_timeout=5)
        try:
            assert (await sio.call("join", {"stream_id": stream_id}, timeout=5))["ok"]
            assert (await sio.call("react", {"stream_id": stream_id, "kind": "fire"}))["ok"]
            chat = {"stream_id": stream_id, "text": "metrics probe"}
            assert (await sio.call("chat", chat))["ok"]
            async with httpx.AsyncClient(base_url=api, timeout=10) as http:
                order_request = {
                    "json": {"items": [{"product_id": product_id, "quantity": 1}],
                             "stream_id": stream_id, "shipping_address": ADDRESS},
                    "headers": {**buyer, "Idempotency-Key": uuid.uuid4().hex},
                }
                order = await http.post("/api/v1/orders", **order_request)
                assert order.status_code == 201, order.text
                replay = await http.post("/api/v1/orders", **order_request)  # not a new order
                assert replay.status_code == 201 and replay.json() == order.json(), replay.text
                forged = await http.post(
                    "/api/v1/payments/webhooks/ecpay", content=b"MerchantID=1&CheckMacValue=0",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                assert forged.status_code == 400, forged.text

                await _until_exposed(http, f"{api}/metrics", [
                    'orders_placed_total{currency="TWD"} 1.0',
                    'payment_notifications_total{provider="ecpay",result="rejected"} 1.0',
                    'http_request_duration_seconds_bucket{le="0.1",method="POST",route="/orders"}',
                    "outbox_published_total",
                ])
                await _until_exposed(http, f"{gw}/metrics", [
                    "gateway_connected_sockets 1.0",
                    "gateway_rooms 1.0",
                    'gateway_reactions_total{kind="fire"} 1.0',
                    "gateway_chat_messages_total 1.0",
                    'gateway_events_in_total{event="chat",result="ok"} 1.0',
                    'gateway_events_out_total{event="chat"}',
                    "gateway_relay_pending ",
                    "gateway_relay_pending_oldest_age_seconds",
                    'gateway_relayed_total{type="order.placed"} 1.0',
                ])
        finally:
            await sio.disconnect()
