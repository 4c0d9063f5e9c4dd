"""Transactional outbox: events are written in the same transaction as the change they describe,
then a relay publishes committed rows to the bus, in id order, exactly once.

Exactly-once: the relay publishes each row with its id as the bus's dedup key and then marks it
published. A crash between the two republishes the row on restart, which the bus drops. Several
relays (one per API process) may run: they take rows with a blocking `FOR UPDATE` (not SKIP
LOCKED; SQLite serialises writers anyway), so batches go out one after another in id order.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Sequence
from datetime import datetime

import structlog
from sqlalchemy import BigInteger, Index, String, Text, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base, BigIntPK, UTCDateTime, table_of, utcnow
from commerce.metrics import OUTBOX_PUBLISHED, OUTBOX_RELAY_LAG
from shared import events as ev
from shared.bus import EventBus

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
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.min_interval_s = min_interval_s
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
            # One round trip for the batch (in id order): in a flash sale the relay publishes
            # a few events per order, and one publish each was a fifth of a core.
            await self.bus.publish_many_raw(
                [(row.payload.encode(), f"outbox:{row.id}") for row in rows]
            )
            for row in rows:
                OUTBOX_PUBLISHED.labels(row.event_type).inc()
            now = utcnow()
            OUTBOX_RELAY_LAG.observe(max(0.0, (now - rows[0].created_at).total_seconds()))
            await connection.execute(_MARK_PUBLISHED, {"ids": [r.id for r in rows], "now": now})
            return len(rows)

    async def run(self) -> None:
        log.info("outbox_relay_started")
        _wakers.add(self._wake)
        try:
            await self._loop()
        finally:
            _wakers.discard(self._wake)

    async def _loop(self) -> None:
        last_busy_pass = -math.inf
        while not self._stopping.is_set():
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
            except Exception:
                log.exception("outbox_relay_failed")
                handled = 0
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
