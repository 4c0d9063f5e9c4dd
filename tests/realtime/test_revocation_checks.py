"""Connect-time revocation checks batched across concurrent connects (realtime/revocations.py)
answer exactly what `is_revoked` answers for each token, on a real Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from realtime.revocations import RevocationChecks
from shared.errors import Unavailable
from shared.tokens import (
    Principal,
    TokenIssuer,
    denylist_key,
    is_revoked,
    mark_revocations_restored,
    revocations_run_key,
    user_revoked_before_key,
)


def principals(issuer: TokenIssuer, n: int) -> list[Principal]:
    return [issuer.issue_access(user_id=100 + i, role="buyer", name=f"u{i}")[1] for i in range(n)]


async def test_concurrent_checks_answer_each_token_as_is_revoked_does(
    aredis: aioredis.Redis, issuer: TokenIssuer
) -> None:
    await mark_revocations_restored(aredis)
    tokens = principals(issuer, 60)
    for p in tokens[::3]:
        await aredis.set(denylist_key(p.jti), "1", ex=300)  # logged out
    await aredis.set(user_revoked_before_key(tokens[1].user_id), tokens[1].issued_at, ex=300)
    checks = RevocationChecks(aredis)
    batched = await asyncio.gather(*(checks.is_revoked(p) for p in tokens))
    one_by_one = [await is_revoked(aredis, p) for p in tokens]
    assert batched == one_by_one
    assert sum(batched) == 21 and batched[1] and not batched[2]  # 20 denylisted + user 101
    # A lone check after the storm is answered too (a new batch starts).
    assert await checks.is_revoked(tokens[0]) is True


async def test_unrestored_marks_make_every_waiting_check_unavailable(
    aredis: aioredis.Redis, issuer: TokenIssuer
) -> None:
    await aredis.delete(revocations_run_key())  # a Redis that restarted: marks not restored
    checks = RevocationChecks(aredis)
    results = await asyncio.gather(
        *(checks.is_revoked(p) for p in principals(issuer, 10)), return_exceptions=True
    )
    assert all(isinstance(r, Unavailable) for r in results), results
    with pytest.raises(Unavailable):
        await is_revoked(aredis, principals(issuer, 1)[0])  # as the unbatched check answers
