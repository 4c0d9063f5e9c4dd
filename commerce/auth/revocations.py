"""Token revocations kept in the database as well as in Redis, so they survive Redis.

Every revocation mark (a logged-out token's `jti`, an ended refresh family, a user's "revoked
before" second) is written to Redis for the verifiers' one-round-trip check *and* as a row
here, in the same transaction as the change that ends the session. Redis can restart without
its last second of writes or lose everything; the verifiers notice (the marks record the Redis
run they were restored into, `shared.tokens`) and ask `is_revoked_in_db` meanwhile, and
`RevocationGuard` restores the marks from these rows into every new Redis run, within a second.
Rows expire with the access tokens they cover.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

import structlog
from sqlalchemy import BigInteger, String, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from commerce.context import AppContext
from commerce.db import Base, UTCDateTime, utcnow
from shared.tokens import (
    Principal,
    denylist_key,
    family_revoked_key,
    mark_revocations_restored,
    revocation_keys,
    revocations_restored,
    user_revoked_before_key,
)

log = structlog.get_logger(__name__)


class TokenRevocation(Base):
    """One revocation mark: the Redis key it mirrors, its value, and when it stops mattering."""

    __tablename__ = "token_revocations"

    key: Mapped[str] = mapped_column(String(191), primary_key=True)
    # For a "revoked before" mark, the epoch second; 1 for the others.
    value: Mapped[int] = mapped_column(BigInteger, default=1)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


async def record(session: AsyncSession, *, key: str, ttl_s: int, value: int = 1) -> None:
    """Keep a mark in the caller's transaction (a repeat extends it)."""
    await session.merge(
        TokenRevocation(key=key, value=value, expires_at=utcnow() + timedelta(seconds=ttl_s))
    )


async def record_jti(session: AsyncSession, *, jti: str, ttl_s: int) -> None:
    await record(session, key=denylist_key(jti), ttl_s=ttl_s)


async def record_family(session: AsyncSession, *, family: str, ttl_s: int) -> None:
    await record(session, key=family_revoked_key(family), ttl_s=ttl_s)


async def record_user_before(
    session: AsyncSession, *, user_id: int, before: int, ttl_s: int
) -> None:
    await record(session, key=user_revoked_before_key(user_id), ttl_s=ttl_s, value=before)


async def is_revoked_in_db(ctx: AppContext, principal: Principal) -> bool:
    """The Redis check's rule on the database's rows (while Redis cannot answer for them)."""
    keys = revocation_keys(principal)
    async with ctx.sessions() as session:
        rows = (await session.execute(
            select(TokenRevocation.key, TokenRevocation.value)
            .where(TokenRevocation.key.in_(keys), TokenRevocation.expires_at > utcnow())
        )).all()
    before_key = user_revoked_before_key(principal.user_id)
    return any(
        principal.issued_at <= row.value if row.key == before_key else True for row in rows
    )


async def restore(ctx: AppContext) -> int | None:
    """Put every live mark back into Redis if this Redis run lacks them; returns how many
    (None: nothing to do). Marks first, then the run: a verifier trusts Redis again only once
    every mark is in."""
    if await revocations_restored(ctx.redis):
        return None
    now = utcnow()
    async with ctx.sessions() as session:
        rows = (await session.execute(
            select(TokenRevocation.key, TokenRevocation.value, TokenRevocation.expires_at)
            .where(TokenRevocation.expires_at > now)
        )).all()
    pipe = ctx.redis.pipeline(transaction=False)
    for row in rows:
        pipe.set(row.key, row.value, ex=max(1, int((row.expires_at - now).total_seconds())))
    await pipe.execute()
    await mark_revocations_restored(ctx.redis)
    log.warning("token_revocations_restored", marks=len(rows))
    return len(rows)


async def purge_expired(ctx: AppContext) -> int:
    async with ctx.sessions() as session, session.begin():
        result = await session.execute(
            delete(TokenRevocation).where(TokenRevocation.expires_at <= utcnow())
        )
    return int(getattr(result, "rowcount", 0) or 0)


PURGE_EVERY_ROUNDS = 600  # expired rows go about every ten minutes (and at start)


class RevocationGuard:
    """Each API process checks every `interval_s` that Redis holds the marks (one script call)
    and restores them when it does not: at start, after a Redis restart, failover or loss."""

    def __init__(self, ctx: AppContext, *, interval_s: float = 1.0) -> None:
        self.ctx = ctx
        self.interval_s = interval_s
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        rounds = 0
        while not self._stopping.is_set():
            try:
                await restore(self.ctx)
                rounds += 1
                if rounds % PURGE_EVERY_ROUNDS == 1:
                    await purge_expired(self.ctx)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis or the database down: the next round retries
                log.warning("token_revocations_restore_failed", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_s)

    def stop(self) -> None:
        self._stopping.set()
