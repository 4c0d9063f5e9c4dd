"""On the production shape: `python -m commerce` (its consumer group turns events into tasks),
a Celery worker on RabbitMQ, MariaDB and Redis. Run under `flock /tmp/lc-rabbit.lock`.

- a paid order, its event delivered twice: one `order_paid` inbox item and one email, in
  Chinese for a zh_TW buyer;
- a seller with 2,000 followers goes live: every follower notified through batched tasks,
  within the bound measured here (printed; BENCHMARKS.md has the fan-out rate);
- the abandoned-cart job sent twice through the broker reminds once;
- a task that always fails lands in the dead-letter queue with its arguments and error, and
  `python -m commerce.deadletter replay` sends it again.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from celery import Celery
from sqlalchemy import func, insert, select

from commerce.auth.models import User
from commerce.context import AppContext
from commerce.db import utcnow
from commerce.deadletter import drain
from commerce.follows.models import Follow
from commerce.notifications.models import Notification, NotificationDelivery
from shared import events as ev
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import make_stream, order_body
from tests.helpers.procs import child_env, free_port, spawn, wait_http

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
FOLLOWERS = 2000
FANOUT_BOUND_S = 30.0  # measured here: 2-3 s for 2,000 followers on one solo worker


async def _until(check: Any, what: str, timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def _count(ctx: AppContext, model: type, *where: object) -> int:
    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where))
                   or 0)


@pytest.fixture
def env(service_env: dict[str, str]) -> Iterator[dict[str, str]]:
    dead_letters = f"dead_letter_test_{uuid.uuid4().hex[:8]}"
    yield {**service_env, "CELERY_BROKER_URL": BROKER, "DEAD_LETTER_QUEUE": dead_letters,
           "NOTIFICATIONS_QUIET_START_HOUR": "0", "NOTIFICATIONS_QUIET_END_HOUR": "0",
           "FOLLOWER_FANOUT_BATCH": "250"}
    client = Celery(broker=BROKER)
    with client.connection_for_write() as conn:
        conn.default_channel.queue_delete(dead_letters)


async def test_notifications_on_a_real_worker(env: dict[str, str], ctx: AppContext) -> None:
    port = free_port()
    client = Celery(broker=BROKER)
    seller, _ = await make_user(ctx, "seller", display_name="阿美的店")
    buyer, buyer_headers = await make_user(ctx, market="TW")
    product = await make_product(ctx, seller, price="1290.00", stock=5)
    with (
        spawn([sys.executable, "-m", "commerce", "--port", str(port)], name="commerce",
              env=env) as api_proc,
        spawn([sys.executable, "-m", "celery", "-A", "commerce.worker", "worker", "--pool",
               "solo", "-Q", "celery,notifications", "-n", f"notify-{uuid.uuid4().hex[:6]}@%h",
               "--without-gossip", "--without-mingle", "-l", "info"],
              name="celery-notifications", env=env) as worker,
    ):
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz", proc=api_proc)
        async with httpx.AsyncClient(base_url=base, timeout=10) as api:

            async def box(to: str) -> list[dict[str, Any]]:
                got = await api.get("/api/v1/sandbox/mailbox", params={"to": to})
                assert got.status_code == 200, got.text
                return list(got.json()["items"])

            # 1. order paid, the event delivered twice
            placed = await api.post("/api/v1/orders", json=order_body((product.id, 1)),
                                    headers=buyer_headers)
            assert placed.status_code == 201, placed.text
            order_id = placed.json()["id"]
            await _until(lambda: box(buyer.email), "the order_placed email")
            raw = ev.encode(ev.OrderPaid(data=ev.OrderStateData(
                order_id=order_id, buyer_id=buyer.id, status="paid")))
            await ctx.bus.publish_raw(raw)
            await ctx.bus.publish_raw(raw)
            mails = await _until(
                lambda: _of_kind(box(buyer.email), "order_paid"), "the order_paid email")
            assert mails[0]["subject"] == f"訂單 #{order_id} 付款成功"
            assert "NT$1,290" in mails[0]["text"]
            inbox = (await api.get("/api/v1/users/me/notifications",
                                   headers=buyer_headers)).json()["items"]
            assert [i["kind"] for i in inbox] == ["order_paid", "order_placed"]

            # 2. 2,000 followers, told through batched tasks
            await _followers(ctx, seller.id, FOLLOWERS)
            stream_id = await make_stream(ctx, seller.id, "live")
            began = time.monotonic()
            await ctx.bus.publish(ev.StreamStatusChanged(
                stream_id=stream_id, data=ev.StreamStatusData(status="live", host_id=seller.id)))
            await _until(
                lambda: _sent(ctx, "stream_live", FOLLOWERS), "2,000 stream_live emails",
                timeout=FANOUT_BOUND_S)
            elapsed = time.monotonic() - began
            print(f"fan-out: {FOLLOWERS} followers notified in {elapsed:.1f} s "
                  f"({FOLLOWERS / elapsed:.0f}/s, one solo worker)")
            assert await _count(ctx, Notification, Notification.kind == "stream_live") \
                == FOLLOWERS
            assert worker.log().count("notifications.fanout_batch") >= FOLLOWERS // 250

            # 3. the abandoned-cart job through the broker, twice (as two beats would)
            await ctx.redis.hset(f"cart:{buyer.id}", mapping={str(product.id): "2"})
            await ctx.redis.expire(f"cart:{buyer.id}", ctx.settings.cart_ttl_s
                                   - ctx.settings.cart_abandoned_after_s - 60)
            client.send_task("jobs.cart_reminders", queue="notifications")
            client.send_task("jobs.cart_reminders", queue="notifications")
            await _until(lambda: _of_kind(box(buyer.email), "cart_abandoned"), "cart email")
            await _until(lambda: _jobs_done(worker.log(), "jobs.cart_reminders", 2), "2 runs")
            assert len(await _of_kind(box(buyer.email), "cart_abandoned")) == 1

            # 4. a task that always fails: dead-lettered with its payload, then replayed
            queue = env["DEAD_LETTER_QUEUE"]
            client.send_task("system.fail", args=["e2e"], queue="celery")
            [record] = await _until(lambda: _dead(client, queue), "the dead letter")
            assert (record["task"], record["args"], record["queue"]) == (
                "system.fail", ["e2e"], "celery")
            assert record["error"] == "DeliberateFailure: deliberate failure: e2e"
            assert "DeliberateFailure" in record["traceback"]
            replay = subprocess.run(
                [sys.executable, "-m", "commerce.deadletter", "replay"], env=child_env(env),
                capture_output=True, text=True, timeout=60, check=False)
            assert replay.returncode == 0, replay.stderr
            assert "replay: 1 record(s)" in replay.stderr
            # The replayed task ran (and failed again): a new record for a new task id.
            [again] = await _until(lambda: _dead(client, queue), "the replayed task's record")
            assert again["args"] == ["e2e"] and again["id"] != record["id"]
            worker.check_alive()


async def _of_kind(items: Any, kind: str) -> list[dict[str, Any]]:
    return [m for m in await items if m["kind"] == kind]


async def _sent(ctx: AppContext, kind: str, n: int) -> bool:
    async with ctx.sessions() as session:
        sent = await session.scalar(
            select(func.count()).select_from(NotificationDelivery)
            .join(Notification, Notification.id == NotificationDelivery.notification_id)
            .where(Notification.kind == kind, NotificationDelivery.status == "sent"))
    return int(sent or 0) >= n


async def _jobs_done(log: str, name: str, n: int) -> bool:
    return log.count(f"Task {name}[") >= 2 * n  # "received" and "succeeded" lines


async def _dead(client: Celery, queue: str) -> list[dict[str, Any]]:
    return await asyncio.to_thread(drain, client, queue, limit=10, replay=False)


async def _followers(ctx: AppContext, seller_id: int, n: int) -> None:
    now = utcnow()
    tag = uuid.uuid4().hex[:6]
    rows = [{"email": f"fan{tag}-{i}@example.test", "display_name": f"Fan {i}", "role": "buyer",
             "locale": ("en", "zh_TW", "th")[i % 3], "market": "TH" if i % 3 == 2 else "TW",
             "email_verified": True, "is_active": True, "created_at": now, "updated_at": now}
            for i in range(n)]
    async with ctx.sessions() as session, session.begin():
        await session.execute(insert(User), rows)
        ids = (await session.scalars(
            select(User.id).where(User.email.like(f"fan{tag}-%")))).all()
        await session.execute(insert(Follow), [
            {"follower_id": uid, "seller_id": seller_id, "created_at": now} for uid in ids])
