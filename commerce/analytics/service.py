"""A stream's numbers: the gateway's live room counters (Redis, `shared/roomstats.py`) joined
with commerce's own orders of the stream, live while it runs and frozen into
`stream_analytics` when it ends (the Redis counters are then left to expire).

Orders count when they still hold (placed in the stream and not cancelled, expired or
refunded); GMV is their total per currency; conversion is distinct buyers over distinct
signed-in viewers (guests cannot buy).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.analytics.models import StreamAnalytics
from commerce.analytics.schemas import Gmv, StreamAnalyticsOut
from commerce.context import AppContext
from commerce.db import insert_ignore, table_of, transaction, utcnow
from commerce.orders.models import Order, OrderItem
from commerce.streams.models import Stream
from shared import roomstats
from shared.errors import Forbidden, NotFound
from shared.money import from_minor
from shared.tokens import Principal

NOT_COUNTED = ("cancelled", "expired", "refunded")
COUNTERS_TTL_AFTER_FREEZE_S = 7 * 24 * 3600


@dataclass
class Numbers:
    peak_viewers: int
    unique_viewers: int
    signed_in_viewers: int
    chat_messages: int
    reactions: int
    orders: int
    units_sold: int
    buyers: int
    gmv: list[dict[str, object]]  # [{currency, amount_minor}]


async def _room_counters(ctx: AppContext, stream_id: int) -> dict[str, int]:
    # PFCOUNT outside the pipeline: redis-py's cluster pipeline refuses it (it may merge
    # several keys), and a live analytics view can afford two more round trips.
    uniques = await ctx.redis.pfcount(roomstats.uniques(stream_id))
    signed_in = await ctx.redis.pfcount(roomstats.signed_in_uniques(stream_id))
    async with ctx.redis.pipeline(transaction=False) as pipe:
        pipe.get(roomstats.peak_viewers(stream_id))
        pipe.get(roomstats.chat_messages(stream_id))
        pipe.get(roomstats.reactions(stream_id))
        peak, chat, reactions = await pipe.execute()
    return {"unique_viewers": int(uniques or 0), "signed_in_viewers": int(signed_in or 0),
            "peak_viewers": int(peak or 0), "chat_messages": int(chat or 0),
            "reactions": int(reactions or 0)}


async def _order_numbers(
    session: AsyncSession, stream_id: int
) -> tuple[int, int, int, list[dict[str, object]]]:
    counted = (Order.stream_id == stream_id, Order.status.not_in(NOT_COUNTED))
    orders, buyers = (await session.execute(
        select(func.count(), func.count(func.distinct(Order.buyer_id))).where(*counted)
    )).one()
    units = await session.scalar(
        select(func.coalesce(func.sum(OrderItem.quantity), 0))
        .join(Order, Order.id == OrderItem.order_id).where(*counted)
    )
    gmv = (await session.execute(
        select(Order.currency, func.sum(Order.total_minor)).where(*counted)
        .group_by(Order.currency).order_by(Order.currency)
    )).tuples().all()
    return int(orders), int(buyers), int(units or 0), [
        {"currency": c, "amount_minor": int(m)} for c, m in gmv]


async def compute(ctx: AppContext, session: AsyncSession, stream_id: int) -> Numbers:
    """The stream's numbers now, its orders read through `session` (a replica's for the live
    view; the primary's for the final numbers, which are written once and kept)."""
    room = await _room_counters(ctx, stream_id)
    orders, buyers, units, gmv = await _order_numbers(session, stream_id)
    return Numbers(**room, orders=orders, units_sold=units, buyers=buyers, gmv=gmv)


async def freeze(ctx: AppContext, *, stream_id: int) -> bool:
    """Write an ended stream's final numbers once; returns whether this call wrote them."""
    async with ctx.sessions() as session:
        stream = await session.get(Stream, stream_id)
        if stream is None or stream.status != "ended":
            return False
        numbers = await compute(ctx, session, stream_id)
    async with transaction(ctx.sessions) as session:
        result = await session.execute(
            insert_ignore(session, table_of(StreamAnalytics)),
            [{"stream_id": stream_id, **numbers.__dict__, "created_at": utcnow()}],
        )
    for key in roomstats.all_keys(stream_id):
        await ctx.redis.expire(key, COUNTERS_TTL_AFTER_FREEZE_S)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def unfrozen_ended(ctx: AppContext, *, limit: int = 500) -> list[int]:
    async with ctx.sessions() as session:
        ids = await session.scalars(
            select(Stream.id)
            .outerjoin(StreamAnalytics, StreamAnalytics.stream_id == Stream.id)
            .where(Stream.status == "ended", StreamAnalytics.stream_id.is_(None))
            .order_by(Stream.id).limit(limit)
        )
        return list(ids.all())


def _out(stream: Stream, numbers: Numbers, *, final: bool) -> StreamAnalyticsOut:
    conversion = numbers.buyers / numbers.signed_in_viewers if numbers.signed_in_viewers else 0.0
    return StreamAnalyticsOut(
        stream_id=stream.id, status=stream.status, final=final,
        peak_viewers=numbers.peak_viewers, unique_viewers=numbers.unique_viewers,
        signed_in_viewers=numbers.signed_in_viewers, chat_messages=numbers.chat_messages,
        reactions=numbers.reactions, orders=numbers.orders, units_sold=numbers.units_sold,
        buyers=numbers.buyers,
        gmv=[Gmv(currency=str(g["currency"]), amount=from_minor(int(g["amount_minor"])))  # type: ignore[call-overload]
             for g in numbers.gmv],
        conversion_rate=round(min(1.0, conversion), 4),
    )


async def stream_analytics(
    ctx: AppContext, *, stream_id: int, principal: Principal
) -> StreamAnalyticsOut:
    """The host's (or an admin's) view: frozen numbers once frozen, live ones until then.
    Read from a replica when one is healthy: live numbers a moment behind are still live. One
    instant for all of them: orders, units and sales are three statements that must agree."""
    async def load(session: AsyncSession) -> StreamAnalyticsOut:
        stream = await session.get(Stream, stream_id)
        if stream is None:
            raise NotFound("stream not found")
        if principal.user_id != stream.host_id and principal.role != "admin":
            raise Forbidden("only the host or an admin sees a stream's analytics")
        frozen = await session.get(StreamAnalytics, stream_id)
        if frozen is not None:
            numbers = Numbers(**{k: getattr(frozen, k) for k in Numbers.__dataclass_fields__})
            return _out(stream, numbers, final=True)
        return _out(stream, await compute(ctx, session, stream_id), final=False)

    return await ctx.reads.read(load, user_id=principal.user_id, one_instant=True)
