"""Tell a seller's followers about a stream (`stream_live`, `stream_reminder`) in batches.

Planning walks the follower index by keyset and hands out inclusive id ranges of
`FOLLOWER_FANOUT_BATCH` followers; each range is one task that writes its notifications in a few
statements and sends their messages itself. A Redis marker makes the plan run once per (kind,
stream) however often the event or the beat asks; the notifications' unique key keeps even a
second plan from notifying anyone twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from commerce.auth.models import User
from commerce.context import AppContext
from commerce.follows import service as follows
from commerce.notifications import delivery
from commerce.notifications.service import notify_users
from commerce.notifications.values import Value
from commerce.streams.models import Stream

PLAN_MARKER_TTL_S = 7 * 24 * 3600
FANOUT_KINDS = ("stream_live", "stream_reminder")


def plan_marker(kind: str, stream_id: int) -> str:
    return f"notifications:fanout:{kind}:{stream_id}"


async def follower_ranges(
    ctx: AppContext, *, kind: str, stream_id: int
) -> AsyncIterator[tuple[int, int]]:
    if kind not in FANOUT_KINDS:
        raise ValueError(f"not a fan-out kind: {kind}")
    async with ctx.sessions() as session:
        stream = await session.get(Stream, stream_id)
    if stream is None:
        return
    if not await ctx.redis.set(plan_marker(kind, stream_id), "1", nx=True, ex=PLAN_MARKER_TTL_S):
        return  # planned already
    after = 0
    batch = ctx.settings.notifications.follower_fanout_batch
    while True:
        async with ctx.sessions() as session:
            page = await follows.follower_page(
                session, seller_id=stream.host_id, after_id=after, limit=batch
            )
        if not page:
            return
        yield page[0], page[-1]
        if len(page) < batch:
            return
        after = page[-1]


async def notify_range(
    ctx: AppContext, *, kind: str, stream_id: int, first_id: int, last_id: int
) -> delivery.Outcome:
    async with ctx.sessions() as session:
        stream = await session.get(Stream, stream_id)
        if stream is None:
            return delivery.Outcome()
        host = await session.get(User, stream.host_id)
        user_ids = await follows.followers_between(
            session, seller_id=stream.host_id, first_id=first_id, last_id=last_id
        )
    values: dict[str, Value] = {
        "seller": host.display_name if host else "", "title": stream.title,
    }
    if kind == "stream_reminder":
        values["starts_at"] = stream.scheduled_at or stream.created_at
    ids = await notify_users(
        ctx, user_ids=user_ids, kind=kind, dedup_key=f"{kind}:{stream_id}", values=values,
        data={"stream_id": stream_id, "seller_id": stream.host_id},
        channels=set(ctx.channels),
    )
    return await delivery.send_deliveries(ctx, ids)
