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

import asyncio

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from shared.errors import Unavailable
from shared.tokens import Principal, is_revoked, revocation_states

UNKNOWN = 2  # `revocation_states`: the marks are not (yet) in this Redis run


class RevocationChecks:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._pending: list[tuple[Principal, asyncio.Future[bool]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def is_revoked(self, principal: Principal) -> bool:
        if isinstance(self.redis, RedisCluster):
            return await is_revoked(self.redis, principal)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((principal, future))
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="revocation-checks")
        return await future

    async def _run(self) -> None:
        """Check batch after batch until nobody waits."""
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    states = await revocation_states(self.redis, [p for p, _ in batch])
                except Exception as exc:  # each waiter gets the error its own call would have
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), state in zip(batch, states, strict=True):
                    if future.done():
                        continue  # the connect gave up meanwhile
                    if state == UNKNOWN:
                        future.set_exception(
                            Unavailable("token revocations are being restored; retry shortly")
                        )
                    else:
                        future.set_result(state == 1)
        finally:
            self._runner = None
            for _, future in self._pending:  # only when this task itself was cancelled
                future.cancel()
            self._pending.clear()
