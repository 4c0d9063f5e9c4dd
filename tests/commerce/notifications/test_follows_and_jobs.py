"""Follows, the going-live fan-out in batches, and the beat jobs run in-process (tasks inline);
tests/commerce/notifications/test_notifications_worker_e2e.py runs them on a real worker."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from commerce import jobs
from commerce.analytics import daily_report
from commerce.auth.models import RefreshToken
from commerce.context import AppContext
from commerce.db import transaction, utcnow
from commerce.notifications import tasks as notification_tasks
from commerce.notifications.models import Notification, NotificationDelivery
from commerce.orders.models import Order
from commerce.outbox import OutboxEvent
from commerce.streams.models import Stream
from shared import events as ev
from shared.settings import CommerceSettings
from tests.commerce.factories import make_product, make_user
from tests.commerce.notifications.helpers import inbox, mailbox, settle, until
from tests.commerce.orders.helpers import make_stream, order_body


@pytest.fixture
def commerce_settings(commerce_settings: CommerceSettings) -> CommerceSettings:
    # No ffmpeg: the clip task queued by the recording-clips job (run inline here) logs its
    # skip at once instead of fetching a recording from Cloudflare.
    return commerce_settings.updated(notifications={"follower_fanout_batch": 4},
                                     media={"ffmpeg_binary": "ffmpeg-absent-in-tests"})


async def _count(ctx: AppContext, model: type, *where: object) -> int:
    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where))
                   or 0)


async def test_follow_unfollow_and_list(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller", display_name="Somchai Shop")
    other_buyer, _ = await make_user(ctx)
    _, headers = await make_user(ctx)
    url = f"/api/v1/sellers/{seller.id}/follow"
    assert (await api.post(url, headers=headers)).status_code == 204
    assert (await api.post(url, headers=headers)).status_code == 204  # idempotent
    listed = (await api.get("/api/v1/users/me/following", headers=headers)).json()
    assert [(i["seller_id"], i["display_name"]) for i in listed["items"]] == [
        (seller.id, "Somchai Shop")]
    assert listed["next_cursor"] is None

    not_seller = await api.post(f"/api/v1/sellers/{other_buyer.id}/follow", headers=headers)
    assert not_seller.status_code == 404
    _, another_seller = await make_user(ctx, "seller")
    assert (await api.post(url, headers=another_seller)).status_code == 204  # sellers follow too
    assert (await api.post(url)).status_code == 401
    assert (await api.post("/api/v1/sellers/999999999/follow", headers=headers)).status_code == 404
    assert (await api.delete(url, headers=headers)).status_code == 204
    assert (await api.delete(url, headers=headers)).status_code == 204
    assert (await api.get("/api/v1/users/me/following", headers=headers)).json()["items"] == []


async def test_following_yourself_is_refused(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, headers = await make_user(ctx, "seller")
    response = await api.post(f"/api/v1/sellers/{seller.id}/follow", headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "cannot_follow_self"


async def test_going_live_tells_every_follower_once_in_batches(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, _ = await make_user(ctx, "seller", display_name="小美直播")
    followers = [await make_user(ctx, market="TW" if i % 2 else "TH") for i in range(10)]
    for _, headers in followers:
        assert (await api.post(f"/api/v1/sellers/{seller.id}/follow",
                               headers=headers)).status_code == 204
    stream_id = await make_stream(ctx, seller.id, "live")
    live = ev.StreamStatusChanged(stream_id=stream_id,
                                  data=ev.StreamStatusData(status="live", host_id=seller.id))
    await ctx.bus.publish(live)
    await ctx.bus.publish(live)  # delivered twice
    await settle(ctx)
    assert await until(lambda: _all_sent(ctx, 10), what="10 stream_live emails")

    for user, headers in followers:
        [item] = await inbox(api, headers)
        assert item["kind"] == "stream_live" and "小美直播" in item["title"]
        assert item["data"] == {"stream_id": stream_id, "seller_id": seller.id}
        [mail] = await mailbox(api, user.email)
        assert mail["locale"] == user.locale
    # 10 followers in batches of 4: three batch tasks, planned once.
    again = await notification_tasks.fanout_plan(ctx, "stream_live", stream_id)
    assert again == 0


async def _all_sent(ctx: AppContext, n: int) -> bool:
    return await _count(ctx, NotificationDelivery, NotificationDelivery.status == "sent") == n


async def test_stream_reminder_goes_out_once_before_the_start(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, _ = await make_user(ctx, "seller")
    fan, headers = await make_user(ctx)
    await api.post(f"/api/v1/sellers/{seller.id}/follow", headers=headers)
    soon = await make_stream(ctx, seller.id, "scheduled")
    later = await make_stream(ctx, seller.id, "scheduled")
    async with transaction(ctx.sessions) as session:
        await session.execute(update(Stream).where(Stream.id == soon)
                              .values(scheduled_at=utcnow() + timedelta(minutes=5)))
        await session.execute(update(Stream).where(Stream.id == later)
                              .values(scheduled_at=utcnow() + timedelta(hours=5)))
    assert await jobs.stream_reminders(ctx) == 1
    assert await jobs.stream_reminders(ctx) == 1  # a second beat: planned once, nothing new
    await settle(ctx)
    items = await until(lambda: inbox(api, headers), what="the reminder")
    assert [(i["kind"], i["data"]["stream_id"]) for i in items] == [("stream_reminder", soon)]
    assert [m["kind"] for m in await mailbox(api, fan.email)] == ["stream_reminder"]


async def test_abandoned_cart_is_reminded_once_per_cart_state(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    s = ctx.settings
    shopper, headers = await make_user(ctx)
    fresh, _ = await make_user(ctx)
    idle_ttl = s.cart_ttl_s - s.notifications.cart_abandoned_after_s - 60
    await ctx.redis.hset(f"cart:{shopper.id}", mapping={"11": "2", "12": "1"})
    await ctx.redis.expire(f"cart:{shopper.id}", idle_ttl)
    await ctx.redis.hset(f"cart:{fresh.id}", mapping={"11": "1"})
    await ctx.redis.expire(f"cart:{fresh.id}", s.cart_ttl_s - 60)
    assert await jobs.cart_reminders(ctx) == 1
    assert await jobs.cart_reminders(ctx) == 0
    await settle(ctx)
    [item] = await inbox(api, headers)
    assert item["kind"] == "cart_abandoned" and "3" in item["body"]
    await until(lambda: mailbox(api, shopper.email), what="the cart email")
    # The cart changes and is left again: a new state, reminded once more.
    await ctx.redis.hset(f"cart:{shopper.id}", mapping={"13": "1"})
    await ctx.redis.expire(f"cart:{shopper.id}", idle_ttl)
    assert await jobs.cart_reminders(ctx) == 1
    assert await mailbox(api, fresh.email) == []


async def test_cleanup_applies_the_retention_settings(ctx: AppContext) -> None:
    user, _ = await make_user(ctx)
    old, recent = utcnow() - timedelta(days=400), utcnow() - timedelta(hours=1)
    async with transaction(ctx.sessions) as session:
        session.add_all([
            OutboxEvent(event_type="x", payload="{}", published_at=old),
            OutboxEvent(event_type="x", payload="{}", published_at=recent),
            OutboxEvent(event_type="x", payload="{}", published_at=None, created_at=old),
            RefreshToken(user_id=user.id, family_id="f", token_hash="a" * 64, expires_at=old),
            RefreshToken(user_id=user.id, family_id="f", token_hash="b" * 64,
                         expires_at=utcnow() + timedelta(days=1)),
            *[Notification(user_id=user.id, kind="order_paid", dedup_key=f"k{i}", locale="en",
                           title="t", body="b", data={}, read_at=read_at)
              for i, read_at in enumerate([old, recent, None])],
        ])
    first = await jobs.cleanup(ctx)
    second = await jobs.cleanup(ctx)
    assert first == {"outbox": 1, "payment_notifications": 0, "refresh_tokens": 1,
                     "notifications": 1}
    assert set(second.values()) == {0}
    assert await _count(ctx, OutboxEvent) == 2
    assert await _count(ctx, Notification) == 2


async def test_recording_clips_are_queued_once_per_stream(ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller")
    ended = await make_stream(ctx, seller.id, "ended")
    no_recording = await make_stream(ctx, seller.id, "ended")
    async with transaction(ctx.sessions) as session:
        await session.execute(update(Stream).where(Stream.id.in_([ended, no_recording]))
                              .values(ended_at=utcnow()))
        await session.execute(update(Stream).where(Stream.id == ended)
                              .values(recording_video_uid="vod123"))
    assert await jobs.queue_recording_clips(ctx) == 1
    assert await jobs.queue_recording_clips(ctx) == 0
    assert await ctx.redis.exists(jobs.clip_marker(ended))
    assert not await ctx.redis.exists(jobs.clip_marker(no_recording))


async def test_seller_daily_report_once_per_local_day(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, seller_headers = await make_user(ctx, "seller", market="TW")
    _, buyer = await make_user(ctx)
    product = await make_product(ctx, seller, price="1290.00", stock=9)
    for qty in (2, 1):
        placed = await api.post("/api/v1/orders", json=order_body((product.id, qty)),
                                headers=buyer)
        assert placed.status_code == 201, placed.text
    now = utcnow()
    day, start, _ = daily_report.local_yesterday("TW", now)
    async with transaction(ctx.sessions) as session:  # placed yesterday, Taipei time
        await session.execute(update(Order).values(created_at=start + timedelta(hours=3)))
    assert await daily_report.send_daily_reports(ctx, now=now) == 1
    assert await daily_report.send_daily_reports(ctx, now=now) == 1  # same rows, no new one
    await settle(ctx)
    [item] = await inbox(api, seller_headers)
    assert item["kind"] == "seller_daily_report"
    assert item["title"] == f"{day.year}年{day.month}月{day.day}日 銷售日報"
    assert "2 筆訂單" in item["body"] and "售出 3 件" in item["body"]
    assert "NT$3,870" in item["body"]
    assert [m["kind"] for m in await mailbox(api, seller.email)] == ["seller_daily_report"]
