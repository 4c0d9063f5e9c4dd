"""Tasks enqueued through the database: the intent is a row written in the caller's transaction,
and a relay sends it to the broker, as the outbox sends events to the stream.

A webhook that stores a payment notification and then enqueues its settlement directly loses
the enqueue when the broker is down at that moment (the provider got a 500, its retry is a
duplicate that is not enqueued again, and only the reconcile beat, a minute or more later,
settles it). Written as an intent in the notification's own transaction, the task cannot be
lost: the provider gets the answer it expects at once, and `TaskRelay` (one per API process)
sends it as soon as the broker takes it again, within about a second.

At least once: a relay that dies between the send and marking the row sent sends it again;
tasks are idempotent (DESIGN: tasks take ids and check state). Only processes with a broker
configured use this; the embedded default runs tasks in-process after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Index, String, Text, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from commerce.broker import TaskProducer
from commerce.db import Base, BigIntPK, UTCDateTime, table_of, utcnow

log = structlog.get_logger(__name__)


class TaskIntent(Base):
    __tablename__ = "task_intents"
    __table_args__ = (Index(None, "sent_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    task_name: Mapped[str] = mapped_column(String(128))
    queue: Mapped[str] = mapped_column(String(64))
    args: Mapped[str] = mapped_column(Text)  # JSON list of ids
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


_INTENTS = table_of(TaskIntent)
_MARK_SENT = (
    update(_INTENTS)
    .where(_INTENTS.c.id.in_(bindparam("ids", expanding=True)))
    .values(sent_at=bindparam("now"))
)
_wakers: set[asyncio.Event] = set()


def add_intent(session: AsyncSession, body: Any, *args: Any) -> None:
    """Enqueue `body(*args)` (an `@async_task` body) when the caller's transaction commits."""
    session.add(TaskIntent(task_name=body.task_name, queue=body.queue, args=json.dumps(args)))
    for wake in _wakers:
        wake.set()


class TaskRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        producer: TaskProducer,
        *,
        batch_size: int = 100,
        poll_interval_s: float = 0.5,
        retry_s: float = 0.5,
    ) -> None:
        self.sessions = sessions
        self.producer = producer
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.retry_s = retry_s
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._pending = (
            select(_INTENTS.c.id, _INTENTS.c.task_name, _INTENTS.c.queue, _INTENTS.c.args)
            .where(_INTENTS.c.sent_at.is_(None))
            .order_by(_INTENTS.c.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )

    async def relay_once(self) -> int:
        """Send one batch of unsent intents; returns how many were sent. Raises the broker's
        error after marking what went out before it."""
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            rows = (await connection.execute(self._pending)).all()
            sent: list[int] = []
            try:
                for row in rows:
                    await self.producer.send(row.task_name, json.loads(row.args), queue=row.queue)
                    sent.append(row.id)
            finally:
                if sent:
                    await connection.execute(_MARK_SENT, {"ids": sent, "now": utcnow()})
            return len(sent)

    async def run(self) -> None:
        _wakers.add(self._wake)
        try:
            while not self._stopping.is_set():
                try:
                    sent = await self.relay_once()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the broker (or the database) is down: soon again
                    log.warning("task_relay_failed", error=type(exc).__name__)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), self.retry_s)
                    continue
                if sent >= self.batch_size:
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
        finally:
            _wakers.discard(self._wake)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
