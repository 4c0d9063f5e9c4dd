"""Read replicas: where the reads that tolerate lag go, and which replica may serve them.

The primary (`DATABASE_URL`) takes every write, every transaction, the orders (a buyer reads
the order they just placed), Alembic and the outbox relay. `ReadSessions` runs the reads
that can be a moment behind, named where they are used: catalog and search,
stream lists, a stream's live analytics and the seller's CSV report. With no
`DATABASE_REPLICA_URLS` (the embedded default, a single database) those run on the primary.

A replica serves while its last health check (`SHOW REPLICA STATUS`) found both replication
threads running and `Seconds_Behind_Master` within `DATABASE_REPLICA_MAX_LAG_S`. The verdict
is cached for `DATABASE_REPLICA_CHECK_INTERVAL_S`, so the hot path asks nothing; one request
refreshes a stale verdict while the others keep using the last one. A replica that refuses a
connection is skipped at once (the pool pings a connection before lending it), so stopping a
replica costs a failed connect, not an error: the read goes to the next replica or the primary.
A replica that dies in the middle of a read (the connection lost mid-query, the server shutting
down) is marked down the same way and the read runs once more, on the primary: reads are
functions of a session (`ReadSessions.read`), not sessions handed out, so they can be run again.
A replica that hangs with its connections open (SIGSTOP, a host gone silent) is bounded too:
the ping gives up after the connect timeout, a read after `DATABASE_REPLICA_READ_TIMEOUT_S`.

A read of several statements that must agree (the seller's CSV report, page by page) runs on
one source in one REPEATABLE READ transaction (`ReadSessions.snapshot`): every page sees the
same instant, and no page can come from another server than the first.

Read-your-writes: a caller whose write these reads show (a seller's product, a host's
stream) is marked in Redis (`{user:ID}:fresh-write`, `DATABASE_REPLICA_FRESH_WRITES_S`) and
reads from the primary until the mark expires. The window is longer than a healthy replica
may trail (settings refuse otherwise), so the author never sees the write missing. Other
callers may see it up to the lag bound late, which is what these reads tolerate.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from commerce import metrics
from commerce.db import make_mysql_engine, make_sessionmaker
from commerce.outage import dependency_down
from shared.errors import NotFound
from shared.settings import CommerceSettings

log = structlog.get_logger(__name__)
T = TypeVar("T")

# What a replica that cannot be reached, or stops answering, raises.
_UNREACHABLE = (SQLAlchemyError, OSError, TimeoutError)


@dataclass(frozen=True)
class Verdict:
    """A replica's last health check: fit to serve, why (or why not), when (monotonic s)."""

    healthy: bool
    reason: str
    lag_s: float | None
    checked_at: float


def judge(status: dict[str, Any] | None, *, max_lag_s: float, now: float) -> Verdict:
    """The verdict on one row of `SHOW REPLICA STATUS` (None: the server is no replica).
    MariaDB names its columns `Slave_*` / `Seconds_Behind_Master`, MySQL 8.0.22+ `Replica_*`
    / `Seconds_Behind_Source`; either is read.

    The lag is NULL while either thread is stopped or the replica is not connected to its
    primary: it cannot tell how far behind it is, so it does not serve."""
    if status is None:
        return Verdict(False, "not a replica", None, now)
    io = status.get("Slave_IO_Running", status.get("Replica_IO_Running"))
    sql = status.get("Slave_SQL_Running", status.get("Replica_SQL_Running"))
    if io != "Yes" or sql != "Yes":
        return Verdict(False, "replication stopped", None, now)
    lag = status.get("Seconds_Behind_Master", status.get("Seconds_Behind_Source"))
    if lag is None:
        return Verdict(False, "replication stopped", None, now)
    if float(lag) > max_lag_s:
        return Verdict(False, f"lagging {lag} s", float(lag), now)
    return Verdict(True, "ok", float(lag), now)


class Replica:
    """One replica's engine, sessions and last verdict."""

    def __init__(self, engine: AsyncEngine, *, name: str, check_timeout_s: float) -> None:
        self.name = name
        self.engine = engine
        self.sessions = make_sessionmaker(engine)
        self.verdict: Verdict | None = None
        self._check_timeout_s = check_timeout_s
        self._checking = asyncio.Lock()

    async def current(self, *, max_lag_s: float, interval_s: float, now: float) -> Verdict | None:
        """The verdict, checked again when older than `interval_s`. While another request
        checks, the last verdict stands (None before the first: not used yet)."""
        verdict = self.verdict
        if verdict is not None and now - verdict.checked_at < interval_s:
            return verdict
        if self._checking.locked():
            return verdict
        async with self._checking:
            self._set(await self._check(max_lag_s=max_lag_s, now=now))
        return self.verdict

    async def _check(self, *, max_lag_s: float, now: float) -> Verdict:
        try:
            async with asyncio.timeout(self._check_timeout_s), self.engine.connect() as conn:
                row = (await conn.execute(text("SHOW REPLICA STATUS"))).mappings().first()
        except _UNREACHABLE as exc:
            return Verdict(False, f"unreachable: {type(exc).__name__}", None, now)
        return judge(dict(row) if row is not None else None, max_lag_s=max_lag_s, now=now)

    def unreachable(self, exc: BaseException, *, now: float) -> None:
        """A connection was refused: skip this replica until the next check is due."""
        self._set(Verdict(False, f"unreachable: {type(exc).__name__}", None, now))

    def _set(self, verdict: Verdict) -> None:
        before = self.verdict
        self.verdict = verdict
        metrics.DB_REPLICA_HEALTHY.labels(self.name).set(1 if verdict.healthy else 0)
        if verdict.lag_s is not None:
            metrics.DB_REPLICA_LAG.labels(self.name).set(verdict.lag_s)
        if before is None or before.healthy != verdict.healthy:
            log.info("db_replica_verdict", replica=self.name, healthy=verdict.healthy,
                     reason=verdict.reason)


class FreshWrites:
    """Callers who wrote what the lag-tolerant reads show, for a short window (Redis, shared
    by every API process behind the load balancer)."""

    def __init__(self, redis: Any, *, window_s: float) -> None:
        self._redis = redis
        self._window_ms = int(window_s * 1000)

    @staticmethod
    def key(user_id: int) -> str:
        return f"{{user:{user_id}}}:fresh-write"

    async def mark(self, user_id: int) -> None:
        if self._window_ms <= 0:
            return
        try:
            await self._redis.set(self.key(user_id), "1", px=self._window_ms)
        except Exception:  # Redis down must not fail a committed write; reads then may lag
            log.exception("fresh_write_mark_failed", user_id=user_id)

    async def recent(self, user_id: int) -> bool:
        if self._window_ms <= 0:
            return False
        try:
            return bool(await self._redis.exists(self.key(user_id)))
        except Exception:  # unknown: the primary is always right
            log.exception("fresh_write_lookup_failed", user_id=user_id)
            return True


class ReadSessions:
    """Sessions for reads that tolerate lag: a healthy replica's, else the primary's."""

    def __init__(
        self,
        primary: async_sessionmaker[AsyncSession],
        replicas: Sequence[Replica] = (),
        *,
        fresh: FreshWrites | None = None,
        max_lag_s: float = 2.0,
        check_interval_s: float = 1.0,
        connect_timeout_s: float = 1.0,
        read_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._primary = primary
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self.replicas = list(replicas)
        self._fresh = fresh
        self._max_lag_s = max_lag_s
        self._interval_s = check_interval_s
        self._clock = clock
        self._turn = itertools.count()

    @classmethod
    def build(
        cls, settings: CommerceSettings, primary: async_sessionmaker[AsyncSession], redis: Any
    ) -> ReadSessions:
        replicas = [
            Replica(
                make_mysql_engine(
                    url,
                    pool_size=settings.database_replica_pool_size,
                    max_overflow=settings.database_replica_pool_size,
                    connect_timeout_s=settings.database_replica_connect_timeout_s,
                ),
                name=replica_name(url),
                check_timeout_s=settings.database_replica_connect_timeout_s + 1.0,
            )
            for url in settings.database_replica_urls
        ]
        return cls(
            primary,
            replicas,
            fresh=FreshWrites(redis, window_s=settings.database_replica_fresh_writes_s),
            max_lag_s=settings.database_replica_max_lag_s,
            check_interval_s=settings.database_replica_check_interval_s,
            connect_timeout_s=settings.database_replica_connect_timeout_s,
            read_timeout_s=settings.database_replica_read_timeout_s,
        )

    async def read(
        self, fn: Callable[[AsyncSession], Awaitable[T]], *, user_id: int | None = None,
        one_instant: bool = False,
    ) -> T:
        """`fn` on a read session for `user_id` (None: anonymous): a healthy replica's, else
        the primary's. Never for writes: replicas are read-only. `one_instant`: `fn`'s
        statements all see one instant (one REPEATABLE READ transaction), for several
        statements that must add up (a stream's orders, units and sales). `fn` may run twice,
        so it only reads; it is run again, whole, on the primary when the replica

        - fails under it with a connection-level error (SIGKILLed, shut down, the network
          gone: `outage.dependency_down`): the replica is marked down (skipped until its next
          health check) and the caller never sees the failure;
        - raises `NotFound`: a row created a moment ago may not have reached the replica yet
          (a shared link to a stream just created), and "not found" must mean it does not
          exist. Costs the primary one lookup per miss.

        Any other error is the read's own and is raised as it is."""
        if one_instant:
            fn = functools.partial(_in_one_instant, fn)
        chosen = await self._replica_session(user_id)
        if chosen is None:
            async with self._primary() as primary:
                return await fn(primary)
        replica, session = chosen
        try:
            async with session:
                try:
                    async with asyncio.timeout(self._read_timeout_s):
                        return await fn(session)
                except TimeoutError:
                    await session.invalidate()  # its connection is mid-answer: never reused
                    raise
        except NotFound:
            served = "primary_after_miss"
        except Exception as exc:
            if not isinstance(exc, TimeoutError) and dependency_down(exc) != "database":
                raise
            replica.unreachable(exc, now=self._clock())
            log.warning("db_replica_failed_mid_read", replica=replica.name,
                        error=type(exc).__name__)
            served = "primary_after_failure"
        metrics.DB_READS.labels(served).inc()
        async with self._primary() as primary:
            return await fn(primary)

    @asynccontextmanager
    async def snapshot(self, *, user_id: int | None = None) -> AsyncIterator[AsyncSession]:
        """A session whose reads all see one instant of one server, for a read of several
        statements that must add up (a report read page by page): a healthy replica's (else
        the primary's) in one REPEATABLE READ transaction, begun at the first statement.

        A snapshot never moves to another server: if its replica dies halfway, the error is
        raised (pages from two servers, or two instants, are what this exists to prevent).
        The connection is held for the whole read, so keep it to reads that must agree."""
        chosen = await self._replica_session(user_id)
        session = self._primary() if chosen is None else chosen[1]
        async with session:
            await _begin_one_instant(session)
            yield session

    async def wrote(self, user_id: int) -> None:
        """`user_id` has just committed something these reads show: they read it from the
        primary for the fresh-writes window. A no-op without replicas."""
        if self.replicas and self._fresh is not None:
            await self._fresh.mark(user_id)

    async def _replica_session(self, user_id: int | None) -> tuple[Replica, AsyncSession] | None:
        """A healthy replica and a session on it holding a live connection; None: read the
        primary (no replica, the caller wrote lately, or none answers)."""
        if not self.replicas:
            return None
        if user_id is not None and self._fresh is not None and await self._fresh.recent(user_id):
            metrics.DB_READS.labels("primary_fresh_write").inc()
            return None
        for replica in await self._serving():
            session = replica.sessions()
            try:
                # The pool pings it first: a dead replica fails here, a hung one times out.
                async with asyncio.timeout(self._connect_timeout_s):
                    await session.connection()
            except _UNREACHABLE as exc:
                await session.invalidate()
                replica.unreachable(exc, now=self._clock())
                continue
            metrics.DB_READS.labels("replica").inc()
            return replica, session
        metrics.DB_READS.labels("primary_no_replica").inc()
        return None

    async def _serving(self) -> list[Replica]:
        """The healthy replicas, starting one further along at each call (round robin)."""
        now = self._clock()
        verdicts = await asyncio.gather(*(
            replica.current(max_lag_s=self._max_lag_s, interval_s=self._interval_s, now=now)
            for replica in self.replicas
        ))
        healthy = [r for r, v in zip(self.replicas, verdicts, strict=True) if v and v.healthy]
        if len(healthy) > 1:
            start = next(self._turn) % len(healthy)
            healthy = healthy[start:] + healthy[:start]
        return healthy

    async def close(self) -> None:
        for replica in self.replicas:
            await replica.engine.dispose()


async def _begin_one_instant(session: AsyncSession) -> None:
    """Make the session's transaction (begun by its first statement, which is still to come)
    REPEATABLE READ and READ ONLY: every statement reads the snapshot the first one took.
    SQLite (the embedded default) runs one process over one file: nothing to pin."""
    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        await connection.exec_driver_sql(
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


async def _in_one_instant(fn: Callable[[AsyncSession], Awaitable[T]], session: AsyncSession) -> T:
    await _begin_one_instant(session)
    return await fn(session)


def replica_name(url: str) -> str:
    """`host:port` of a replica URL: its label in logs and metrics (never the password)."""
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 3306}"
