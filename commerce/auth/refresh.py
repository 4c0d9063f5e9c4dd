"""Refresh-token storage: opaque tokens, stored hashed, one family per login (RFC 9700 §4.14).

The client holds `secrets.token_urlsafe(32)` (256 bits); the database holds only its SHA-256, so
a leaked table cannot be replayed. A token is spent with one conditional UPDATE (`WHERE used_at
IS NULL AND revoked_at IS NULL`) on its locked row: under concurrent refreshes with the same
token exactly one UPDATE matches, the others then see the token spent. These helpers run inside
the caller's transaction; `service.py` decides what a spent or revoked token means.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.auth.models import RefreshToken
from commerce.db import utcnow

T = TypeVar("T")
_DEADLOCK = 1213  # MySQL/MariaDB ER_LOCK_DEADLOCK: this transaction was rolled back
_ATTEMPTS = 4


async def retry_deadlocks(operation: Callable[[], Awaitable[T]]) -> T:
    """Run a whole transaction again when InnoDB picked it as a deadlock victim.

    Locking the presented row first keeps refreshes of one token in a queue, but a logout or a
    second refresh of the same family can still meet it on the family's index entries (one
    holds a row, the other the index gap the first inserts into). The victim was rolled back
    entirely, so running it again is safe and sees the winner's committed state.
    """
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return await operation()
        except OperationalError as exc:
            code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
            if code != _DEADLOCK or attempt == _ATTEMPTS:
                raise
            await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)
    raise AssertionError("unreachable")


def new_family() -> str:
    return uuid.uuid4().hex


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue(session: AsyncSession, *, user_id: int, family: str, ttl_s: int) -> str:
    """A new token in `family`; returns the plaintext (shown to the client once)."""
    token = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            user_id=user_id,
            family_id=family,
            token_hash=hash_token(token),
            expires_at=utcnow() + timedelta(seconds=ttl_s),
        )
    )
    return token


async def find_locked(session: AsyncSession, token: str) -> RefreshToken | None:
    """The token's row, locked until the caller's transaction ends, as last committed.

    Found without a lock first (an unknown token then locks nothing, not even an index gap),
    then locked by primary key: every request presenting the same token queues on this one row
    lock before touching the family, so concurrent refreshes and replays run one after another
    instead of deadlocking on the family's index entries.
    """
    token_id = await session.scalar(
        select(RefreshToken.id).where(RefreshToken.token_hash == hash_token(token))
    )
    if token_id is None:
        return None
    return await session.get(
        RefreshToken, token_id, with_for_update=True, populate_existing=True
    )


async def spend(session: AsyncSession, *, token_id: int, now: datetime) -> bool:
    """Mark the token used if it is still live; False when another request got there first (or
    it was revoked meanwhile). The row lock taken here is held until the caller commits."""
    result = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == token_id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


async def revoke_family(session: AsyncSession, *, family: str) -> int:
    """Revoke every live token of the family; returns how many were still unrevoked."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    assert isinstance(result, CursorResult)
    return result.rowcount
