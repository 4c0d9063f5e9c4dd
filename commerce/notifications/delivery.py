"""Send deliveries: each at most once per (notification, channel), retried with back-off.

A send first claims its rows with one conditional UPDATE (`pending`, or `sending` whose claim
ran out because a worker died mid-send) stamped with a token of this run, so two workers handed
the same ids (a duplicate event, a redelivered task) never both send: the loser's UPDATE matches
nothing. After the provider answers, the row becomes `sent`, goes back to `pending` for a later
attempt (retryable failure, attempts left: the caller schedules it), or `failed`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from sqlalchemy import and_, or_, select, update

from commerce.channels.base import ChannelName, OutgoingMessage, SendFailed
from commerce.context import AppContext
from commerce.db import transaction, utcnow
from commerce.notifications.service import DELIVERIES, NOTIFICATIONS

log = structlog.get_logger(__name__)

CLAIM_S = 120  # longer than any provider call (timeouts are 10 s): a live claim is never stolen
CONCURRENCY = 16


@dataclass
class Outcome:
    sent: list[int] = field(default_factory=list)
    retry: list[tuple[int, int]] = field(default_factory=list)  # (delivery id, attempts so far)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (delivery id, last error)


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    channel: ChannelName
    recipient: str
    attempts: int
    title: str
    body: str
    kind: str
    locale: str

    def message(self) -> OutgoingMessage:
        return OutgoingMessage(
            channel=self.channel, to=self.recipient, subject=self.title,
            text=f"{self.title}\n\n{self.body}" if self.channel == "email" else self.body,
            kind=self.kind, locale=self.locale,
            idempotency_key=f"notification-delivery-{self.id}",
        )


def retry_delay_s(ctx: AppContext, attempts: int) -> float:
    """Exponential back-off: base, 2x base, 4x base ... capped at an hour."""
    return float(min(3600.0, ctx.settings.notifications.retry_base_s * 2 ** max(0, attempts - 1)))


async def _claim(ctx: AppContext, ids: Sequence[int]) -> str:
    token = secrets.token_hex(16)
    now = utcnow()
    async with transaction(ctx.sessions) as session:
        await session.execute(
            update(DELIVERIES)
            .where(
                DELIVERIES.c.id.in_(list(ids)),
                DELIVERIES.c.attempts < ctx.settings.notifications.max_attempts,
                or_(
                    DELIVERIES.c.status == "pending",
                    and_(DELIVERIES.c.status == "sending", DELIVERIES.c.claimed_until < now),
                ),
            )
            .values(status="sending", claim_token=token,
                    claimed_until=now + timedelta(seconds=CLAIM_S),
                    attempts=DELIVERIES.c.attempts + 1)
        )
    return token


async def send_deliveries(ctx: AppContext, ids: Sequence[int]) -> Outcome:
    """Send what can be claimed of `ids`; returns what happened to each claimed one."""
    outcome = Outcome()
    if not ids:
        return outcome
    token = await _claim(ctx, ids)
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(
                    DELIVERIES.c.id, DELIVERIES.c.channel, DELIVERIES.c.recipient,
                    DELIVERIES.c.attempts, NOTIFICATIONS.c.title, NOTIFICATIONS.c.body,
                    NOTIFICATIONS.c.kind, NOTIFICATIONS.c.locale,
                )
                .join(NOTIFICATIONS, NOTIFICATIONS.c.id == DELIVERIES.c.notification_id)
                .where(DELIVERIES.c.claim_token == token)
            )
        ).all()
    channels = ctx.channels
    gate = asyncio.Semaphore(CONCURRENCY)
    max_attempts = ctx.settings.notifications.max_attempts

    async def one(r: _Claimed) -> None:
        channel = channels.get(r.channel)
        try:
            if channel is None:
                raise SendFailed(f"no {r.channel} channel configured", retryable=False)
            async with gate:
                await channel.send(r.message())
        except SendFailed as exc:
            error = str(exc)
            if exc.retryable and r.attempts < max_attempts:
                outcome.retry.append((r.id, r.attempts))
                await _finish(ctx, r.id, token, status="pending", error=error)
            else:
                outcome.failed.append((r.id, error))
                await _finish(ctx, r.id, token, status="failed", error=error)
            log.warning("notification_send_failed", delivery_id=r.id, channel=r.channel,
                        error=error, retryable=exc.retryable)
            return
        outcome.sent.append(r.id)

    await asyncio.gather(*(one(_Claimed(*row)) for row in rows))
    if outcome.sent:
        async with transaction(ctx.sessions) as session:
            await session.execute(
                update(DELIVERIES)
                .where(DELIVERIES.c.id.in_(outcome.sent), DELIVERIES.c.claim_token == token)
                .values(status="sent", sent_at=utcnow(), claimed_until=None, last_error=None)
            )
    return outcome


async def _finish(
    ctx: AppContext, delivery_id: int, token: str, *, status: str, error: str
) -> None:
    async with transaction(ctx.sessions) as session:
        await session.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == delivery_id, DELIVERIES.c.claim_token == token)
            .values(status=status, last_error=error[:2000], claimed_until=None)
        )
