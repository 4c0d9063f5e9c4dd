"""Checkout while Redis is unreachable: sell from the database, at a bounded rate.

Redis holds the stock gate, the Idempotency-Key markers and stored rejections, the revocation
marks and the rate limits, but none of them is the truth: the conditional stock UPDATE alone
guarantees no oversell, the keys' successes are rows in the database (`answers.FirstAnswers`),
and so are the revocations (`commerce.auth.revocations`). So when the checkout's first Redis
round trip fails, the process enters an outage (`RedisOutage`) and serves orders from the
database until Redis answers again:

- A local token bucket (`TokenBucket`, `ORDER_DEGRADED_RATE_PER_S` and `_BURST`, per process)
  stands in for the gate: without it every request of a sold-out flood costs a transaction on
  the hot product row, so requests beyond the bucket get 503 `unavailable` + `Retry-After`
  instead of queueing on MariaDB.
- The per-user and per-address order limits (`RATE_LIMIT_ORDERS_PER_USER`, `_PER_IP`) are
  counted in this process's memory (`LocalOrderLimits`) with the same settings and the same
  429 `rate_limited` answer: one buyer's script cannot take the whole bucket. Per process, and
  from zero when the outage begins (the Redis counts are out of reach), so across N API
  processes a buyer may place up to N times the limit during an outage; the bucket bounds the
  total.
- While the outage lasts no request touches Redis (each would wait for a connection error);
  one background task pings it every `probe_interval_s`.
- A success is still stored as its key's first answer (the database row, in the order's
  transaction); its Redis marker cannot be set, so it is owed: when Redis answers again, the
  recovery waits for this process's in-flight database checkouts, then sets the markers of every
  record created since the outage began (one indexed query, whichever process wrote them), and
  drops the gate keys of the products sold meanwhile (they reload from the database). Until
  that is done the process keeps selling from the database, so none of its answers can miss a
  success. A rejection decided during the outage is not stored (Redis holds rejections): a
  retry is decided afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta

import redis.asyncio as aioredis
import structlog
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commerce.db import utcnow
from commerce.inventory.gate import StockGate
from commerce.orders.checkout.answers import MARKER_TTL_S, SCOPE, marker_key
from commerce.orders.models import IdempotencyRecord
from commerce.throttle import OrderLimits
from shared.outage import REDIS_DOWN
from shared.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

# Records this much older than the outage's start are marked too: a checkout that began just
# before the first failure may have written its row (created_at is taken before commit) without
# its marker, had Redis failed in between.
MARGIN = timedelta(seconds=2)


class TokenBucket:
    """`rate_per_s` tokens a second, at most `burst` saved; `take()` spends one if there is one.
    Per process and lock-free (one event loop)."""

    def __init__(
        self, rate_per_s: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate_per_s)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class LocalOrderLimits:
    """The order limits counted in this process's memory while Redis is out of reach: the
    `limits` library's memory storage under the sliding-window counter that counts them in
    Redis otherwise (`commerce.throttle`), so the windows and the answers are the same."""

    def __init__(self, limits: OrderLimits) -> None:
        self.limits = limits
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def enforce(self, *, user_id: int, ip: str) -> None:
        """Count one order for the user and the address; 429 `rate_limited` past either."""
        await self.limits.enforce(self.limiter, user_id=user_id, ip=ip)


class RedisOutage:
    """One process's view of whether the checkout may use Redis, and its way back."""

    def __init__(
        self,
        redis: aioredis.Redis,
        sessions: async_sessionmaker[AsyncSession],
        gate: StockGate | None,
        *,
        probe_interval_s: float = 0.25,
        drain_timeout_s: float = 30.0,
    ) -> None:
        self.redis = redis
        self.sessions = sessions
        self.gate = gate
        self.probe_interval_s = probe_interval_s
        self.drain_timeout_s = drain_timeout_s
        self.since: datetime | None = None  # wall clock: compared with records' created_at
        self.in_flight = 0  # database checkouts of this process now running
        self._sold: set[int] = set()  # products sold from the database during the outage
        self._prober: asyncio.Task[None] | None = None
        self._recovering: asyncio.Event | None = None  # set when a recovery attempt ends
        self._idle: asyncio.Event | None = None  # set when the last in-flight one ends
        self.recovered = 0  # outages this process has come back from (for tests and logs)

    @property
    def active(self) -> bool:
        return self.since is not None

    async def use_database(self) -> bool:
        """Whether this checkout must go to the database alone. While a recovery runs, wait
        for it (tens of milliseconds): its drain must not be starved by new checkouts."""
        if self.since is None:
            return False
        if self._recovering is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._recovering.wait(), self.drain_timeout_s)
        return self.since is not None

    def begin(self, exc: BaseException) -> None:
        """Redis failed the checkout's first round trip: sell from the database until it
        answers again (idempotent)."""
        if self.since is None:
            self.since = utcnow()
            log.warning("checkout_redis_outage", error=type(exc).__name__)
        if self._prober is None or self._prober.done():
            self._prober = asyncio.create_task(self._probe(), name="checkout-redis-probe")

    @contextlib.contextmanager
    def selling(self, product_ids: Iterable[int]) -> Iterator[None]:
        """Around one database checkout: counted, and its products' gate keys dropped later."""
        self.in_flight += 1
        self._sold.update(product_ids)
        try:
            yield None
        finally:
            self.in_flight -= 1
            if not self.in_flight and self._idle is not None:
                self._idle.set()

    async def _probe(self) -> None:
        while self.since is not None:
            await asyncio.sleep(self.probe_interval_s)
            try:
                await self.redis.ping()
            except REDIS_DOWN:
                continue
            self._recovering = asyncio.Event()
            try:
                await self._recover()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # down again (or the database is): the next probe retries
                if not isinstance(exc, REDIS_DOWN):
                    log.warning("checkout_redis_recovery_failed", exc_info=True)
            finally:
                self._recovering.set()
                self._recovering = None

    async def _recover(self) -> None:
        """Redis answers: set the markers owed since the outage began, drop the gate keys of
        what sold, then let the checkout use Redis again."""
        since = self.since
        assert since is not None
        if self.in_flight:  # new ones wait for us (`use_database`)
            self._idle = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.drain_timeout_s)
        async with self.sessions() as session:
            rows = (await session.execute(
                select(IdempotencyRecord.user_id, IdempotencyRecord.key)
                .where(IdempotencyRecord.scope == SCOPE,
                       IdempotencyRecord.created_at >= since - MARGIN)
            )).all()
        markers = [marker_key(int(user_id), key) for user_id, key in rows]
        if markers:
            async with self.redis.pipeline(transaction=False) as pipe:
                for marker in markers:
                    pipe.set(marker, "1", ex=MARKER_TTL_S)
                await pipe.execute()
        sold, self._sold = sorted(self._sold), set()
        if self.gate is not None and sold:
            await self.gate.forget(sold)
        self.since = None
        self.recovered += 1
        log.warning("checkout_redis_recovered", markers=len(markers), products=len(sold))

    async def close(self) -> None:
        if self._prober is not None:
            await cancel_and_wait(self._prober)

