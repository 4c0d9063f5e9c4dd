"""Streams: create a Cloudflare live input, follow its status, end it, keep the gateway in sync.

Status is a small state machine (`TRANSITIONS`), each move one conditional
`UPDATE ... WHERE status IN (:from)` with the `stream.status` outbox event in the same
transaction, so a repeated webhook or a poll racing a webhook is a no-op, not a double event:

- `scheduled -> live` when Cloudflare reports the input connected (notification or poll), or
  when the host starts it while the provider reports the encoder connected (`start_stream`);
- a disconnect changes nothing: encoders drop and reconnect, and the room should not flap.
  The poll task ends a live stream whose input stayed disconnected longer than
  `stream_auto_end_after_s`;
- `scheduled|live -> ended` when the host ends it (or the poll above). `ended` is final: a
  later connect of the same input is ignored.
- The recording's video-ready webhook stores `recording_video_uid` (the VOD) without a status
  change.

After each commit the stream's metadata (host, status, title, lineup) is written to Redis
(`shared.livedata`), where the gateway reads it at `join` and `pin`.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commerce import live_inputs
from commerce.catalog import service as catalog_service
from commerce.context import AppContext
from commerce.db import transaction, utcnow
from commerce.outbox import add_event
from commerce.pagination import decode_id_cursor, encode_cursor
from commerce.streams import webhooks
from commerce.streams.models import Stream, StreamProduct
from commerce.streams.schemas import StreamCreate, StreamUpdate
from commerce.streams.webhooks import StreamSignal
from shared import events as ev
from shared import livedata
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.tokens import Principal

log = structlog.get_logger(__name__)

# event -> {from status: to status}; anything not listed is a no-op.
TRANSITIONS: dict[str, dict[str, str]] = {
    "connected": {"scheduled": "live"},
    "start": {"scheduled": "live"},
    "end": {"scheduled": "ended", "live": "ended"},
}


async def _lineup(session: AsyncSession, stream_id: int) -> list[int]:
    rows = await session.scalars(
        select(StreamProduct.product_id)
        .where(StreamProduct.stream_id == stream_id)
        .order_by(StreamProduct.position)
    )
    return list(rows)


async def _sync_live(ctx: AppContext, stream: Stream, product_ids: list[int]) -> None:
    """Write the gateway's view of the stream; a Redis failure must not undo a commit."""
    meta = livedata.StreamMeta(
        id=stream.id,
        host_id=stream.host_id,
        status=stream.status,
        title=stream.title,
        product_ids=product_ids,
        moderator_ids=[],
    )
    try:
        await livedata.put_stream(ctx.redis, meta)
    except Exception:
        log.exception("stream_livedata_failed", stream_id=stream.id)


async def _committed(ctx: AppContext, stream: Stream, product_ids: list[int]) -> None:
    """After a committed stream write: the host reads streams from the primary for a while
    (`commerce.replicas`: their page shows the change at once), and the gateway's view
    follows."""
    await ctx.reads.wrote(stream.host_id)
    await _sync_live(ctx, stream, product_ids)


async def restore_live_data(ctx: AppContext) -> int:
    """Write the gateway's view of every stream whose room is open (scheduled or live) again,
    after Redis lost it: otherwise `join` and `resume` answer `not_found` for a stream that
    exists. Returns how many were written."""
    async with ctx.sessions() as session:
        streams = list(await session.scalars(
            select(Stream).where(Stream.status.in_(("scheduled", "live")))
        ))
        lineups = [await _lineup(session, stream.id) for stream in streams]
    for stream, lineup in zip(streams, lineups, strict=True):
        await _sync_live(ctx, stream, lineup)
    return len(streams)


async def _check_lineup(session: AsyncSession, *, host_id: int, product_ids: list[int]) -> None:
    if len(set(product_ids)) != len(product_ids):
        raise InvalidInput("product_ids has duplicates", code="invalid_products")
    found = await catalog_service.load_active_products(session, product_ids)
    bad = [pid for pid in product_ids if pid not in found or found[pid].seller_id != host_id]
    if bad:
        raise InvalidInput(
            "product_ids must be your own active products",
            code="invalid_products",
            details={"product_ids": bad},
        )


async def create_stream(ctx: AppContext, *, host_id: int, data: StreamCreate) -> Stream:
    async with ctx.sessions() as session:
        await _check_lineup(session, host_id=host_id, product_ids=data.product_ids)
    provider = ctx.live_inputs
    live = await provider.create_live_input(
        name=data.title[:100],
        meta={"host_id": str(host_id)},
        require_signed_urls=data.is_private,
    )
    try:
        async with transaction(ctx.sessions) as session:
            stream = Stream(
                host_id=host_id,
                title=data.title,
                status="scheduled",
                is_private=data.is_private,
                scheduled_at=data.scheduled_at,
                live_input_uid=live.uid,
                ingest=live.ingest,
                playback=live_inputs.playback_urls(ctx.settings, live.uid),
            )
            session.add(stream)
            await session.flush()
            session.add_all(
                StreamProduct(stream_id=stream.id, product_id=pid, position=i)
                for i, pid in enumerate(data.product_ids)
            )
            add_event(session, _status_event(stream))
    except Exception:
        # Do not leave a billable live input nobody knows about.
        try:
            await provider.delete_live_input(live.uid)
        except Exception:
            log.exception("live_input_cleanup_failed", uid=live.uid)
        raise
    await _committed(ctx, stream, data.product_ids)
    await _sync_lineup_snapshots(ctx, data.product_ids)
    return stream


async def _sync_lineup_snapshots(ctx: AppContext, product_ids: list[int]) -> None:
    """Make sure every pinnable product has a snapshot the gateway can show."""
    if not product_ids:
        return
    try:
        async with ctx.sessions() as session:
            products = await catalog_service.load_active_products(session, product_ids)
        for product in products.values():
            await livedata.put_product(ctx.redis, catalog_service.snapshot(product))
    except Exception:
        log.exception("lineup_snapshot_failed")


async def update_stream(
    ctx: AppContext, *, stream_id: int, principal: Principal, data: StreamUpdate
) -> tuple[Stream, list[int]]:
    """Change title, schedule or lineup; the gateway's copy follows after the commit."""
    async with transaction(ctx.sessions) as session:
        stream = await session.scalar(
            select(Stream).where(Stream.id == stream_id).with_for_update()
        )
        if stream is None:
            raise NotFound("stream not found")
        if stream.host_id != principal.user_id and principal.role != "admin":
            raise Forbidden("only the host can change the stream")
        if stream.status == "ended":
            raise Conflict("the stream has ended", code="stream_ended")
        fields = data.model_fields_set
        if "title" in fields and data.title is not None:
            stream.title = data.title
        if "scheduled_at" in fields:
            stream.scheduled_at = data.scheduled_at
        if data.product_ids is not None:
            await _check_lineup(session, host_id=stream.host_id, product_ids=data.product_ids)
            await session.execute(delete(StreamProduct).where(StreamProduct.stream_id == stream.id))
            session.add_all(
                StreamProduct(stream_id=stream.id, product_id=pid, position=i)
                for i, pid in enumerate(data.product_ids)
            )
        await session.flush()
        lineup = await _lineup(session, stream.id)
    await _committed(ctx, stream, lineup)
    await _sync_lineup_snapshots(ctx, lineup)
    return stream, lineup


def _status_event(stream: Stream) -> ev.StreamStatusChanged:
    return ev.StreamStatusChanged(
        stream_id=stream.id,
        data=ev.StreamStatusData(status=stream.status, host_id=stream.host_id),
    )


async def get_stream(session: AsyncSession, *, stream_id: int) -> tuple[Stream, list[int]]:
    stream = await session.get(Stream, stream_id)
    if stream is None:
        raise NotFound("stream not found")
    return stream, await _lineup(session, stream_id)


async def list_streams(
    session: AsyncSession,
    *,
    status: str | None,
    host_id: int | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[tuple[Stream, list[int]]], str | None]:
    """Newest first, keyset-paginated on id."""
    before = decode_id_cursor(cursor)
    query = select(Stream).order_by(Stream.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(Stream.status == status)
    if host_id is not None:
        query = query.where(Stream.host_id == host_id)
    if before is not None:
        query = query.where(Stream.id < before)
    rows = list(await session.scalars(query))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    rows = rows[:limit]
    lineups: dict[int, list[int]] = {s.id: [] for s in rows}
    if rows:
        links = await session.execute(
            select(StreamProduct.stream_id, StreamProduct.product_id)
            .where(StreamProduct.stream_id.in_(list(lineups)))
            .order_by(StreamProduct.stream_id, StreamProduct.position)
        )
        for stream_id, product_id in links:
            lineups[stream_id].append(product_id)
    return [(s, lineups[s.id]) for s in rows], next_cursor


async def _move(ctx: AppContext, *, where: Any, event: str) -> Stream | None:
    """Apply one TRANSITIONS event to the stream matched by `where`; None if not applicable."""
    moves = TRANSITIONS[event]
    async with transaction(ctx.sessions) as session:
        stream = await session.scalar(select(Stream).where(where))
        if stream is None or stream.status not in moves:
            return None
        to = moves[stream.status]
        now = utcnow()
        values: dict[str, Any] = {"status": to}
        if to == "live":
            values["started_at"] = func.coalesce(Stream.started_at, now)
        if to == "ended":
            values["ended_at"] = now
        result = await session.execute(
            update(Stream)
            .where(Stream.id == stream.id, Stream.status == stream.status)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None  # someone else moved it first
        await session.refresh(stream)
        add_event(session, _status_event(stream))
        lineup = await _lineup(session, stream.id)
    log.info("stream_status", stream_id=stream.id, status=stream.status, cause=event)
    await _committed(ctx, stream, lineup)
    return stream


def hosted_by(stream: Stream | None, principal: Principal, action: str) -> Stream:
    """The stream if `principal` hosts it (or is an admin): 404 / 403 otherwise."""
    if stream is None:
        raise NotFound("stream not found")
    if stream.host_id != principal.user_id and principal.role != "admin":
        raise Forbidden(f"only the host can {action} the stream")
    return stream


async def _hosted(ctx: AppContext, stream_id: int, principal: Principal, action: str) -> Stream:
    async with ctx.sessions() as session:
        return hosted_by(await session.get(Stream, stream_id), principal, action)


async def start_stream(ctx: AppContext, *, stream_id: int, principal: Principal) -> Stream:
    """The host goes live: `scheduled -> live` once the provider reports the encoder connected.

    Asks the provider (Cloudflare's live input `status.current.state`, or the sandbox) rather
    than trusting a notification we may have missed. Starting a live stream again answers the
    stream as it is (the connected notification may have taken it live first); an ended stream
    stays ended (409 `stream_ended`).
    """
    stream = await _hosted(ctx, stream_id, principal, "start")
    if stream.status == "ended":
        raise Conflict("the stream has ended", code="stream_ended")
    if stream.status == "live":
        return stream
    live = (
        await ctx.live_inputs.get_live_input(stream.live_input_uid)
        if stream.live_input_uid
        else None
    )
    if live is None or live.state != "connected":
        raise Conflict(
            "the encoder is not connected: start streaming from OBS (or the sandbox) first",
            code="encoder_not_connected",
            details={"encoder_state": live.state if live else None},
        )
    moved = await _move(ctx, where=Stream.id == stream_id, event="start")
    if moved is not None:
        return moved
    async with ctx.sessions() as session:  # raced with the connected notification or an end
        current = await session.get(Stream, stream_id)
    assert current is not None
    if current.status == "ended":
        raise Conflict("the stream has ended", code="stream_ended")
    return current


async def end_stream(ctx: AppContext, *, stream_id: int, principal: Principal) -> Stream:
    stream = await _hosted(ctx, stream_id, principal, "end")
    if stream.status == "ended":
        return stream  # ended is final; ending twice is harmless
    moved = await _move(ctx, where=Stream.id == stream_id, event="end")
    if moved is None:  # raced with another end
        async with ctx.sessions() as session:
            current = await session.get(Stream, stream_id)
        assert current is not None
        return current
    return moved


async def apply_signal(ctx: AppContext, *, signal: StreamSignal) -> None:
    """What a verified Cloudflare delivery does to our stream (unknown inputs are ignored)."""
    where = Stream.live_input_uid == signal.live_input_uid
    if signal.kind == "connected":
        await _move(ctx, where=where, event="connected")
    elif signal.kind == "ready" and signal.video_uid:
        async with transaction(ctx.sessions) as session:
            await session.execute(
                update(Stream).where(where).values(recording_video_uid=signal.video_uid)
            )
        log.info("stream_recording_ready", live_input=signal.live_input_uid, video=signal.video_uid)
    else:
        log.info("stream_signal", kind=signal.kind, live_input=signal.live_input_uid)


async def poll_live_inputs(ctx: AppContext, *, page: int = 200, concurrency: int = 8) -> int:
    """Fallback for lost notifications: ask Cloudflare about every open stream's input.

    Live streams are always checked; scheduled ones only from an hour before their slot (or
    when unscheduled), which keeps the calls within Cloudflare's API rate limit when sellers
    schedule far ahead. Returns how many streams changed status.
    """
    provider = ctx.live_inputs
    gate = asyncio.Semaphore(concurrency)
    idle_limit = timedelta(seconds=ctx.settings.streams.auto_end_after_s)
    soon = utcnow() + timedelta(hours=1)

    async def check(stream: Stream) -> bool:
        assert stream.live_input_uid is not None
        async with gate:
            try:
                live = await provider.get_live_input(stream.live_input_uid)
            except (NotFound, live_inputs.CloudflareError) as exc:
                log.warning("stream_poll_failed", stream_id=stream.id, error=str(exc))
                return False
        event = None
        if live.state == "connected" and stream.status == "scheduled":
            event = "connected"
        elif (
            stream.status == "live"
            and live.state == "disconnected"
            and live.state_since is not None
            and utcnow() - live.state_since > idle_limit
        ):
            event = "end"
        return bool(event and await _move(ctx, where=Stream.id == stream.id, event=event))

    changed, after = 0, 0
    while True:
        async with ctx.sessions() as session:
            batch = list(
                await session.scalars(
                    select(Stream)
                    .where(
                        Stream.id > after,
                        Stream.live_input_uid.is_not(None),
                        (Stream.status == "live")
                        | (
                            (Stream.status == "scheduled")
                            & (Stream.scheduled_at.is_(None) | (Stream.scheduled_at <= soon))
                        ),
                    )
                    .order_by(Stream.id)
                    .limit(page)
                )
            )
        if not batch:
            return changed
        changed += sum(await asyncio.gather(*(check(stream) for stream in batch)))
        after = batch[-1].id


async def receive_webhook(ctx: AppContext, *, headers: dict[str, str], body: bytes) -> None:
    """Verify one Cloudflare delivery (400 if forged, stale or replayed), then act on it."""
    settings = ctx.settings
    signal = await webhooks.verify(
        redis=ctx.redis,
        headers=headers,
        body=body,
        stream_secret=settings.streams.cloudflare.stream_webhook_secret.get_secret_value(),
        notification_secret=settings.streams.cloudflare.notification_secret.get_secret_value(),
        tolerance_s=settings.streams.cloudflare.webhook_tolerance_s,
    )
    if signal is not None:
        await apply_signal(ctx, signal=signal)
