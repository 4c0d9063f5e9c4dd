"""On the production shape: `python -m commerce` with its consumer turned off, `python -m
commerce.consumer` (commerce's consumer group, turning events into tasks) beside it, a Celery
worker on RabbitMQ, MariaDB and Redis. Run under `flock /tmp/lc-rabbit.lock`.

- a paid order, its event delivered twice: one `order_paid` inbox item and one email, in
  Chinese for a zh_TW buyer;
- a seller with 2,000 followers goes live: every follower notified through batched tasks,
  within the bound measured here (printed; BENCHMARKS.md has the fan-out rate);
- the abandoned-cart job sent twice through the broker reminds once, and every other beat job
  sent twice does its work once (reminders, cleanup, clips, analytics rollup, daily report);
- a task that always fails lands in the dead-letter queue with its arguments and error, and
  `python -m commerce.deadletter replay` sends it again.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from celery import Celery
from sqlalchemy import func, insert, select, update

from commerce import jobs as jobs_module
from commerce.analytics.daily_report import local_yesterday
from commerce.analytics.models import StreamAnalytics
from commerce.auth.models import User
from commerce.context import AppContext
from commerce.db import utcnow
from commerce.deadletter import drain
from commerce.follows.models import Follow
from commerce.notifications.models import Notification, NotificationDelivery
from commerce.orders.models import Order
from commerce.outbox import OutboxEvent
from commerce.streams.models import Stream
from shared import events as ev
from tests.commerce.factories import make_product, make_user
from tests.commerce.notifications.helpers import until
from tests.commerce.orders.helpers import make_stream, order_body
from tests.helpers.procs import child_env, free_port, spawn, wait_http

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
pytestmark = pytest.mark.shared_rabbitmq  # its worker consumes the shared queues
FOLLOWERS = 2000
FANOUT_BOUND_S = 30.0  # measured here: 2-3 s for 2,000 followers on one solo worker


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
              env={**env, "NOTIFICATIONS_CONSUMER_ENABLED": "false"}) as api_proc,
        spawn([sys.executable, "-m", "commerce.consumer"], name="consumer", env=env),
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
            await until(lambda: box(buyer.email), "the order_placed email", timeout=45)
            raw = ev.encode(ev.OrderPaid(data=ev.OrderStateData(
                order_id=order_id, buyer_id=buyer.id, status="paid")))
            await ctx.bus.publish_raw(raw)
            await ctx.bus.publish_raw(raw)
            mails = await until(
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
            await until(
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
                                   - ctx.settings.notifications.cart_abandoned_after_s - 60)
            client.send_task("jobs.cart_reminders", queue="notifications")
            client.send_task("jobs.cart_reminders", queue="notifications")
            await until(lambda: _of_kind(box(buyer.email), "cart_abandoned"), "cart email")
            await until(lambda: _jobs_done(worker.log(), "jobs.cart_reminders", 2), "2 runs")
            assert len(await _of_kind(box(buyer.email), "cart_abandoned")) == 1

            # 4. the other beat jobs through the broker, each twice (as two beats would)
            reminded_seller, _ = await make_user(ctx, "seller")
            await _followers(ctx, reminded_seller.id, 3)
            await _beat_fixtures(ctx, seller.id, reminded_seller.id)
            jobs = ["jobs.stream_reminders", "jobs.cleanup", "jobs.queue_recording_clips",
                    "analytics.rollup", "analytics.seller_daily_reports"]
            for name in jobs * 2:
                client.send_task(name, queue="notifications" if name in NOTIFY_QUEUE
                                 else "celery")
            for name in jobs:
                await until(lambda n=name: _jobs_done(worker.log(), n, 2), f"{name} twice")
            await until(lambda: _sent(ctx, "stream_reminder", 3), "3 reminders")
            await until(lambda: _sent(ctx, "seller_daily_report", 1), "the daily report")
            assert await _count(ctx, Notification, Notification.kind == "stream_reminder") == 3
            assert await _count(ctx, Notification,
                                Notification.kind == "seller_daily_report") == 1
            assert await _count(ctx, OutboxEvent, OutboxEvent.event_type == "test.old") == 0
            assert await _count(ctx, StreamAnalytics) == 1
            assert worker.log().count("analytics.rollup") >= 2
            assert await ctx.redis.exists(jobs_module.clip_marker(stream_id))

            # 5. a task that always fails: dead-lettered with its payload, then replayed
            queue = env["DEAD_LETTER_QUEUE"]
            client.send_task("system.fail", args=["e2e"], queue="celery")
            [record] = await until(lambda: _dead(client, queue), "the dead letter", timeout=30)
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
            [again] = await until(lambda: _dead(client, queue), "the replayed task's record",
                                  timeout=30)
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
    return len(re.findall(rf"Task {re.escape(name)}\[[^\]]+\] succeeded", log)) >= n


async def _dead(client: Celery, queue: str) -> list[dict[str, Any]]:
    return await asyncio.to_thread(drain, client, queue, limit=10, replay=False)


NOTIFY_QUEUE = {"jobs.stream_reminders", "analytics.seller_daily_reports"}


async def _beat_fixtures(ctx: AppContext, seller_id: int, reminded_seller_id: int) -> None:
    """What each beat job acts on: a stream starting in 5 minutes (reminders), the live stream
    ended with a recording (clip, analytics rollup), an old published outbox row (cleanup),
    the seller's orders moved to yesterday in Taipei (daily report)."""
    now = utcnow()
    _, yesterday, _ = local_yesterday("TW", now)
    async with ctx.sessions() as session, session.begin():
        session.add(Stream(host_id=reminded_seller_id, title="Soon", status="scheduled",
                           scheduled_at=now + timedelta(minutes=5)))
        await session.execute(update(Stream).where(Stream.host_id == seller_id).values(
            status="ended", ended_at=now, recording_video_uid="vod-e2e"))
        session.add(OutboxEvent(event_type="test.old", payload="{}",
                                published_at=now - timedelta(days=400)))
        await session.execute(update(Order).values(created_at=yesterday + timedelta(hours=2)))


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
