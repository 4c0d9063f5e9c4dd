"""Transactional outbox: events are written in the same transaction as the change they describe,
then a relay publishes committed rows to the bus, in id order, exactly once.

Exactly-once: the relay publishes each row with its id as the bus's dedup key and then marks it
published. A crash between the two republishes the row on restart, which the bus drops. Several
relays (one per API process) may run: they take rows with a blocking `FOR UPDATE` (not SKIP
LOCKED; SQLite serialises writers anyway), so batches go out one after another in id order.

A lost stream: Redis can come back from a crash with its last second of writes missing (AOF
`everysec`), fail over to a replica that lagged, or lose everything. Published rows stay in the
table. Each publish carries the last row the database says was published, and the bus refuses
it (`StreamLost`) when the stream's high-water mark (the highest outbox id it holds) is lower;
the relay also compares the two every second while idle. Either way (`check_stream`), the rows
after the mark are marked unpublished again and go out through the normal path, in id order,
before anything newer; when the mark is gone, so are those published within `replay_window_s`.
The dedup keys, restored or lost with the entries themselves, drop the rows Redis still had;
the gateway's per-room dedup drops what rooms already got.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy import BigInteger, Index, String, Text, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base, BigIntPK, UTCDateTime, table_of, utcnow
from commerce.metrics import OUTBOX_PUBLISHED, OUTBOX_RELAY_LAG, OUTBOX_REPLAYED
from commerce.outage import log_failure
from shared import events as ev
from shared.bus import EventBus, StreamLost

log = structlog.get_logger(__name__)


class OutboxEvent(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index(None, "published_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_type: Mapped[str] = mapped_column(String(64))
    stream_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


_OUTBOX = table_of(OutboxEvent)
# Built once: the checkout writes events and the relay reads and marks them for every group of
# orders, and building a statement costs about as much CPU as running it.
_INSERT_EVENTS = insert(_OUTBOX)
_MARK_PUBLISHED = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(published_at=bindparam("now"))
)
# The last published row: read backwards along the primary key, past the unpublished tail.
_LAST_PUBLISHED = (
    select(_OUTBOX.c.id)
    .where(_OUTBOX.c.published_at.is_not(None))
    .order_by(_OUTBOX.c.id.desc())
    .limit(1)
)


def add_event(session: AsyncSession, event: ev.DomainEvent) -> None:
    """Queue an event inside the caller's transaction; it is published only if that commits."""
    session.add(
        OutboxEvent(
            event_type=event.type,
            stream_id=event.stream_id,
            payload=ev.encode(event).decode(),
        )
    )
    _wake_relays()


async def insert_events(session: AsyncSession, events: Sequence[ev.DomainEvent]) -> None:
    """`add_event` for several events at once, written now as one multi-row INSERT (Core, no
    ORM flush). For transactions that hold a hot row's lock until they commit (checkout, stock
    release), where each round trip and each flush is time other buyers wait."""
    if not events:
        return
    now = utcnow()
    connection = await session.connection()
    await connection.execute(
        _INSERT_EVENTS,
        [
            {"event_type": e.type, "stream_id": e.stream_id,
             "payload": ev.encode(e).decode(), "created_at": now}
            for e in events
        ],
    )
    _wake_relays()


def _wake_relays() -> None:
    for wake in _wakers:
        wake.set()


# One event per running relay in this process, set on every add_event so the relay publishes
# at once instead of at its next poll (each relay owns its event, bound to its own loop).
_wakers: set[asyncio.Event] = set()


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        *,
        batch_size: int = 200,
        poll_interval_s: float = 0.1,
        min_interval_s: float = 0.05,
        replay_window_s: float = 300.0,
        stream_check_interval_s: float = 1.0,
        on_stream_loss: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.min_interval_s = min_interval_s
        self.replay_window_s = replay_window_s
        self.stream_check_interval_s = stream_check_interval_s
        # Called once a loss is found (after the rows are requeued): restores the rest of what
        # Redis held that the database can rebuild (commerce/recovery.py).
        self.on_stream_loss = on_stream_loss
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._pending = (
            select(_OUTBOX.c.id, _OUTBOX.c.event_type, _OUTBOX.c.payload, _OUTBOX.c.created_at)
            .where(_OUTBOX.c.published_at.is_(None))
            .order_by(_OUTBOX.c.id)
            .limit(batch_size)
            .with_for_update()
        )

    async def relay_once(self) -> int:
        """Publish one batch of unpublished rows; returns how many were handled."""
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            rows = (await connection.execute(self._pending)).all()
            if not rows:
                return 0
            # What the stream must hold already: anything newer waits until a lost stream got
            # its lost rows back, in order (StreamLost; `check_stream`).
            expect = await connection.scalar(_LAST_PUBLISHED)
            # One round trip for the batch (in id order): in a flash sale the relay publishes
            # a few events per order, and one publish each was a fifth of a core.
            await self.bus.publish_many_raw(
                [(row.payload.encode(), f"outbox:{row.id}") for row in rows],
                high_water=rows[-1].id,
                expect=expect,
            )
            for row in rows:
                OUTBOX_PUBLISHED.labels(row.event_type).inc()
            now = utcnow()
            OUTBOX_RELAY_LAG.observe(max(0.0, (now - rows[0].created_at).total_seconds()))
            await connection.execute(_MARK_PUBLISHED, {"ids": [r.id for r in rows], "now": now})
            return len(rows)

    async def check_stream(self) -> int:
        """Requeue what the stream lost (see the module docstring); returns how many rows."""
        # The database first: a row is marked published only after its publish, so a mark read
        # afterwards is at least that row's id unless Redis lost it.
        async with self.sessions() as session:
            last = await session.scalar(_LAST_PUBLISHED)
        if last is None:
            return 0
        mark = await self.bus.high_water()
        if mark is not None and mark >= last:
            return 0
        if mark is None:
            since = utcnow() - timedelta(seconds=self.replay_window_s)
            lost = _OUTBOX.c.published_at >= since
        else:
            lost = (_OUTBOX.c.id > mark) & _OUTBOX.c.published_at.is_not(None)
        async with self.sessions() as session, session.begin():
            result = await session.execute(update(_OUTBOX).where(lost).values(published_at=None))
        count = int(getattr(result, "rowcount", 0) or 0)
        OUTBOX_REPLAYED.inc(count)
        log.warning("event_stream_lost_entries", high_water=mark, last_published=last,
                    requeued=count)
        if self.on_stream_loss is not None:
            await self.on_stream_loss()
        self._wake.set()
        return count

    async def run(self) -> None:
        log.info("outbox_relay_started")
        _wakers.add(self._wake)
        try:
            await self._loop()
        finally:
            _wakers.discard(self._wake)

    async def _loop(self) -> None:
        last_busy_pass = -math.inf
        last_check = -math.inf
        while not self._stopping.is_set():
            if time.monotonic() - last_check >= self.stream_check_interval_s:
                last_check = time.monotonic()
                try:
                    await self.check_stream()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log_failure(log, "outbox_stream_check_failed", exc)
            # A pass costs a transaction of four statements whatever it carries: under load
            # (a wake-up per checkout group) a pass comes at least `min_interval_s` after the
            # last one that published something, so each takes what several groups wrote;
            # the first event after a quiet spell goes out at once, and so does the next batch
            # of a backlog (a full batch is followed at once).
            wait = last_busy_pass + self.min_interval_s - time.monotonic()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), wait)
                if self._stopping.is_set():
                    break
            began = time.monotonic()
            try:
                handled = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except StreamLost:
                log.warning("outbox_stream_lost")
                last_check = -math.inf  # requeue what it lost, then go on at once
                continue
            except Exception as exc:
                log_failure(log, "outbox_relay_failed", exc)
                handled = 0
                last_check = -math.inf  # the stream may have lost entries: check first
                await asyncio.sleep(1.0)
            if handled >= self.batch_size:
                last_busy_pass = -math.inf  # a backlog: the next batch goes at once
            elif handled:
                last_busy_pass = began
            else:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
