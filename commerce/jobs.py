"""Beat jobs that belong to no one domain's request path: reminders, cleanup, clips.

Each is idempotent and safe when two beats run it at once by mistake: what it sends is keyed by
a unique notification key (cart state, stream), what it queues is guarded by a Redis `SET NX`
marker, and what it deletes is selected by age, so a second run finds nothing left to do.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import structlog
from sqlalchemy import delete, select

from commerce.auth.models import RefreshToken
from commerce.carts.service import CART_KEY_PATTERN
from commerce.context import AppContext
from commerce.db import transaction, utcnow
from commerce.media import tasks as media_tasks
from commerce.notifications import tasks as notification_tasks
from commerce.notifications.models import Notification
from commerce.notifications.service import notify_users
from commerce.outbox import OutboxEvent
from commerce.payments.models import PaymentNotification
from commerce.streams.models import Stream
from commerce.tasks import async_task, enqueue

log = structlog.get_logger(__name__)

CLEANUP_BATCH = 1000
MARKER_TTL_S = 30 * 24 * 3600
CLIP_SECONDS = 30.0


@async_task("jobs.stream_reminders", queue="notifications", every=timedelta(minutes=1))
async def stream_reminders(ctx: AppContext) -> int:
    """Plan the reminder fan-out of every stream starting within `STREAM_REMINDER_MINUTES`."""
    now = utcnow()
    horizon = now + timedelta(minutes=ctx.settings.notifications.stream_reminder_minutes)
    async with ctx.sessions() as session:
        ids = (await session.scalars(
            select(Stream.id).where(Stream.status == "scheduled", Stream.scheduled_at > now,
                                    Stream.scheduled_at <= horizon)
        )).all()
    for stream_id in ids:  # the plan runs once per stream (fanout.plan_marker)
        await enqueue(ctx, notification_tasks.fanout_plan, "stream_reminder", stream_id)
    return len(ids)


def cart_state(items: dict[str, str]) -> str:
    """A short digest of a cart's contents: a changed cart is a new state, reminded anew."""
    canonical = ",".join(f"{k}:{v}" for k, v in sorted(items.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


@async_task("jobs.cart_reminders", queue="notifications", every=timedelta(minutes=10))
async def cart_reminders(ctx: AppContext) -> int:
    """Remind owners of carts idle longer than `CART_ABANDONED_AFTER_S`, once per cart state.

    A cart's TTL is reset on every change, so its idle time is `CART_TTL_S - TTL`."""
    s = ctx.settings
    reminded = 0
    async for key in ctx.redis.scan_iter(match=CART_KEY_PATTERN, count=500):
        ttl = await ctx.redis.ttl(key)
        if ttl < 0 or s.cart_ttl_s - ttl < s.notifications.cart_abandoned_after_s:
            continue
        items = {str(k): str(v) for k, v in (await ctx.redis.hgetall(key)).items()}
        if not items:
            continue
        try:
            user_id = int(str(key).rsplit(":", 1)[1])
        except ValueError:
            continue
        count = sum(int(q) for q in items.values() if str(q).isdigit())
        ids = await notify_users(
            ctx, user_ids=[user_id], kind="cart_abandoned",
            dedup_key=f"cart_abandoned:{cart_state(items)}", values={"count": count},
            data={"product_ids": sorted(int(p) for p in items if str(p).isdigit())},
            channels=set(ctx.channels),
        )
        await notification_tasks.deliver_all(ctx, ids)
        reminded += bool(ids)
    return reminded


async def _delete_in_batches(ctx: AppContext, model: type, pk: object, where: object) -> int:
    """Delete matching rows `CLEANUP_BATCH` at a time (short transactions, no long locks)."""
    total = 0
    while True:
        async with transaction(ctx.sessions) as session:
            ids = (await session.scalars(select(pk).where(where).limit(CLEANUP_BATCH))).all()  # type: ignore[call-overload]
            if not ids:
                return total
            await session.execute(delete(model).where(pk.in_(ids)))  # type: ignore[attr-defined]
        total += len(ids)


@async_task("jobs.cleanup", every=timedelta(hours=1))
async def cleanup(ctx: AppContext) -> dict[str, int]:
    """Apply the retention settings: published outbox rows, processed payment notifications,
    expired refresh tokens, read notifications."""
    s, now = ctx.settings, utcnow()
    return {
        "outbox": await _delete_in_batches(
            ctx, OutboxEvent, OutboxEvent.id,
            OutboxEvent.published_at < now - timedelta(days=s.retention_outbox_days)),
        "payment_notifications": await _delete_in_batches(
            ctx, PaymentNotification, PaymentNotification.id,
            PaymentNotification.processed_at
            < now - timedelta(days=s.retention_payment_notifications_days)),
        "refresh_tokens": await _delete_in_batches(
            ctx, RefreshToken, RefreshToken.id, RefreshToken.expires_at < now),
        "notifications": await _delete_in_batches(
            ctx, Notification, Notification.id,
            Notification.read_at < now - timedelta(days=s.retention_read_notifications_days)),
    }


def clip_marker(stream_id: int) -> str:
    return f"jobs:clip-queued:{stream_id}"


@async_task("jobs.queue_recording_clips", every=timedelta(minutes=5))
async def queue_recording_clips(ctx: AppContext) -> int:
    """Queue a highlight clip of each ended stream whose recording is ready, once per stream."""
    since = utcnow() - timedelta(days=2)
    async with ctx.sessions() as session:
        ids = (await session.scalars(
            select(Stream.id).where(Stream.status == "ended",
                                    Stream.recording_video_uid.is_not(None),
                                    Stream.ended_at > since)
        )).all()
    queued = 0
    for stream_id in ids:
        if await ctx.redis.set(clip_marker(stream_id), "1", nx=True, ex=MARKER_TTL_S):
            await enqueue(ctx, media_tasks.recording_clip, stream_id, 0.0, CLIP_SECONDS, "clip")
            queued += 1
    return queued
