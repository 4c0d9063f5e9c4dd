"""Create notifications: one inbox row per (user, dedup key) and one delivery per channel the
user's preferences, contact details and the quiet hours allow.

Every write is an insert-or-ignore on a unique key, then a read of what exists, so running the
same request twice (an event delivered twice, a task retried, two beats) creates nothing twice.
A batch is written in one transaction of five statements whatever its size: the going-live
fan-out's followers (one text per locale and market, not per user) and the event consumer's
batch of order events (a flash sale's thousands of `order_placed`, one text each), so a
notification costs the database a row, not a transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.auth.models import User
from commerce.channels.base import ChannelName
from commerce.context import AppContext
from commerce.db import insert_ignore, table_of, transaction, utcnow
from commerce.notifications import templates
from commerce.notifications.formatting import timezone_of
from commerce.notifications.models import Notification, NotificationDelivery
from commerce.notifications.values import Value, formatted

DEFAULT_PREFS: dict[str, bool] = {"email": True, "sms": True, "in_app": True}
NOTIFICATIONS = table_of(Notification)
DELIVERIES = table_of(NotificationDelivery)


@dataclass(frozen=True, slots=True)
class Recipient:
    id: int
    email: str
    phone: str | None
    locale: str
    market: str
    prefs: dict[str, bool]


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification to write: to `user_id`, once per (`user_id`, `dedup_key`). Notices that
    share one `values` object share their rendering per (locale, market)."""

    user_id: int
    kind: str
    dedup_key: str
    values: dict[str, Value] = field(hash=False)
    data: dict[str, Any] = field(hash=False)


def prefs_of(user: User) -> dict[str, bool]:
    return {**DEFAULT_PREFS, **(user.notification_prefs or {})}


def in_quiet_hours(now: datetime, *, market: str, start_hour: int, end_hour: int) -> bool:
    """Whether `now` falls in the user's local quiet window [start, end) (may wrap midnight)."""
    if start_hour == end_hour:
        return False
    local = now.astimezone(timezone_of(market)).time()
    start, end = time(start_hour), time(end_hour)
    return start <= local < end if start < end else local >= start or local < end


async def _recipients(session: AsyncSession, user_ids: Sequence[int]) -> list[Recipient]:
    users = (
        await session.scalars(select(User).where(User.id.in_(user_ids), User.is_active))
    ).all()
    return [
        Recipient(id=u.id, email=u.email, phone=u.phone, locale=u.locale, market=u.market,
                  prefs=prefs_of(u))
        for u in users
    ]


def _channels_for(
    ctx: AppContext, recipient: Recipient, kind: str, now: datetime, available: set[str]
) -> list[tuple[ChannelName, str]]:
    s = ctx.settings
    if kind in templates.MARKETING_KINDS and in_quiet_hours(
        now, market=recipient.market, start_hour=s.notifications.quiet_start_hour,
        end_hour=s.notifications.quiet_end_hour,
    ):
        return []
    out: list[tuple[ChannelName, str]] = []
    if recipient.prefs["email"] and "email" in available:
        out.append(("email", recipient.email))
    if recipient.prefs["sms"] and recipient.phone and "sms" in available:
        out.append(("sms", recipient.phone))
    return out


async def notify_users(
    ctx: AppContext,
    *,
    user_ids: Sequence[int],
    kind: str,
    dedup_key: str,
    values: dict[str, Value],
    data: dict[str, Any],
    channels: set[str],
    now: datetime | None = None,
) -> list[int]:
    """Notify each user once per `dedup_key`; returns the ids of deliveries still to send
    (pending ones of this key, including any an earlier, interrupted run left)."""
    notices = [Notice(user_id, kind, dedup_key, values, data) for user_id in user_ids]
    return await notify_many(ctx, notices, channels=channels, now=now)


async def notify_many(
    ctx: AppContext,
    notices: Sequence[Notice],
    *,
    channels: set[str],
    now: datetime | None = None,
) -> list[int]:
    """Write `notices` (each once per user and dedup key) and their deliveries in one
    transaction; returns the ids of their deliveries still to send, in id order (including any
    an earlier, interrupted run left pending)."""
    first: dict[tuple[int, str], Notice] = {}
    for n in notices:
        first.setdefault((n.user_id, n.dedup_key), n)  # the same fact twice in one batch
    unique = list(first.values())
    if not unique:
        return []
    now = now or utcnow()
    async with transaction(ctx.sessions) as session:
        recipients = {
            r.id: r for r in await _recipients(session, sorted({n.user_id for n in unique}))
        }
        wanted = [(n, recipients[n.user_id]) for n in unique if n.user_id in recipients]
        if not wanted:
            return []
        texts: dict[tuple[int, str, str, str], templates.Rendered] = {}
        rows = []
        for n, r in wanted:
            key = (id(n.values), n.kind, r.locale, r.market)
            if key not in texts:
                texts[key] = templates.render(
                    n.kind, r.locale, formatted(n.values, locale=r.locale, market=r.market)
                )
            rows.append({
                "user_id": r.id, "kind": n.kind, "dedup_key": n.dedup_key, "locale": r.locale,
                "title": texts[key].title, "body": texts[key].body, "data": n.data,
                "in_app": r.prefs["in_app"], "created_at": now,
            })
        await session.execute(insert_ignore(session, NOTIFICATIONS), rows)
        # A superset by the two columns of the unique key, narrowed to the pairs asked for.
        found = (
            await session.execute(
                select(NOTIFICATIONS.c.user_id, NOTIFICATIONS.c.dedup_key, NOTIFICATIONS.c.id)
                .where(
                    NOTIFICATIONS.c.dedup_key.in_(sorted({n.dedup_key for n, _ in wanted})),
                    NOTIFICATIONS.c.user_id.in_(sorted({r.id for _, r in wanted})),
                )
            )
        ).tuples().all()
        ids = {(user_id, key): id_ for user_id, key, id_ in found if (user_id, key) in first}
        deliveries = [
            {"notification_id": ids[(r.id, n.dedup_key)], "channel": channel, "recipient": to,
             "status": "pending", "attempts": 0, "created_at": now}
            for n, r in wanted if (r.id, n.dedup_key) in ids
            for channel, to in _channels_for(ctx, r, n.kind, now, channels)
        ]
        if not deliveries:
            return []
        await session.execute(insert_ignore(session, DELIVERIES), deliveries)
        pending = await session.scalars(
            select(DELIVERIES.c.id).where(
                and_(DELIVERIES.c.notification_id.in_(sorted(ids.values())),
                     DELIVERIES.c.status == "pending")
            ).order_by(DELIVERIES.c.id)
        )
        return list(pending.all())
