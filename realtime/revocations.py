"""Connect-time revocation checks, one Redis round trip for all the connects in flight.

Every signed-in connect asks Redis whether its token was revoked (`shared.tokens.is_revoked`:
one script call). In a join storm of signed-in phones that was one call per connect, each
taking a pooled connection and a round trip of its own: 11 % of a gateway's event-loop samples
in a 10,000-client signed-in storm (py-spy, BENCHMARKS.md issue 20, session 8). Here the checks
that arrive while one batch is in flight wait for the next, which asks for all of them in one
pipeline (`shared.tokens.revocation_states`): a lone connect is checked at once, a storm costs
one round trip per batch. Each answer is what `is_revoked` without a fallback answers: revoked,
not revoked, `Unavailable` while the marks are not restored into this Redis run, or the Redis
error itself. On a Redis Cluster (marks in several slots) each check runs on its own.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from realtime.sharedreads import BatchedReads
from shared.tokens import Principal, is_revoked, revocation_states, revoked_in_state


class RevocationChecks:
    def __init__(self, redis: aioredis.Redis, *, batch_interval_s: float = 0.0) -> None:
        self.redis = redis
        self._states: BatchedReads[None, Principal, int] = BatchedReads(
            self._read_states, interval_s=batch_interval_s
        )

    async def is_revoked(self, principal: Principal) -> bool:
        if isinstance(self.redis, RedisCluster):
            return await is_revoked(self.redis, principal)
        return revoked_in_state(await self._states.get(None, principal))

    async def _read_states(self, _: None, principals: list[Principal]) -> list[int]:
        return await revocation_states(self.redis, principals)
