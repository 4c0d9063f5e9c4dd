"""One way to get a Redis client, real or embedded.

With `REDIS_URL` set every process talks to that Redis. Without it (the embedded default) all
services in the one process share a fakeredis server, so carts, rate limits, room state and
the token denylist take the same code paths as in production, just in memory.

`REDIS_URL=redis+cluster://host:port,host:port` (`rediss+cluster://` with TLS) selects a Redis
Cluster for everything instead: the data clients are redis-py's `RedisCluster` (any reachable
nodes; the rest are discovered), the rate limiter uses `limits`' cluster storage, the fan-out
its sharded channels. Every key that a script, MULTI or pipeline touches together carries the
same hash tag (`{stream:7}`, `{user:42}`, `{product:9}`, `{events}`), built in one key module
per domain (`realtime/rooms.py`, `shared/roomstats.py`, `shared/tokens.py`, ...), so the same
code runs on one Redis and on a cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, cast
from urllib.parse import unquote

import fakeredis
import redis.asyncio as aioredis
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, KeyT

from shared.redis_packing import packed_by_hiredis
from shared.redis_run import make_run_aware


@lru_cache(maxsize=1)
def _embedded_server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


# A burst (a join storm: thousands of sockets each running a few commands) can want more
# connections than the pool holds. A non-blocking pool raises `MaxConnectionsError` then, and the
# caller's request fails; a blocking one makes it wait its turn, bounded by `POOL_WAIT_S`.
POOL_SIZE = 512
POOL_WAIT_S = 10.0

# After a Redis restart every pooled connection is dead. A connection idle this long is PINGed
# before it is lent out (a dead one is replaced there, not found by the caller's command)...
HEALTH_CHECK_INTERVAL_S = 1.0
# ... and a command that meets a dead connection anyway (a busy one, never idle) is sent again
# on a fresh connection, at most twice, 50-200 ms apart. Only on a connection error, which is
# a command written to a socket the server had already closed (the live server never ran it, so
# resending is safe even for INCR or XADD); the rare other case, a server dying mid-command,
# falls in the AOF's one-second loss window anyway. Timeouts are not retried (the server may
# have run the command); callers answer them 503 `unavailable`.
RETRIES = 2


# redis-py 8 sends CLIENT SETINFO on every new connection, pipelined with the health check's
# PING; Redis before 7.2 (Debian 12 ships 7.0) answers it with an error, and under load the
# gateway logged "unknown subcommand 'SETINFO'" as the reply to chat sends (seen at 150 msg/s
# in bench/fanout). The library name is only informational, so no client sends it.


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=0.2, base=0.05), RETRIES,
                 supported_errors=(RedisConnectionError,))


def _connection_options() -> dict[str, Any]:
    """What every data connection is made with, on one Redis or on each node of a cluster:
    bounded connect and command timeouts, keepalive, a PING before reusing an idle connection,
    one resend on a dead one, and no CLIENT SETINFO (see above `_retry`)."""
    return {
        "socket_connect_timeout": 5,
        "socket_timeout": 30,
        "socket_keepalive": True,
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
        "retry": _retry(),
        "driver_info": None,
    }


class WaitingConnectionPool(aioredis.BlockingConnectionPool):
    """redis-py's blocking pool, with a short way while a connection is free and nobody waits.

    `BlockingConnectionPool` takes and gives back every connection under an `asyncio.Condition`
    with an `asyncio.timeout` (a timer scheduled and cancelled per command) and a context
    manager: 55 µs of CPU per take-and-give-back on this machine under load, against 20 µs for
    the non-blocking pool and 12 µs this way, and a flash sale's sold-out answer is one
    command (BENCHMARKS.md, `bench/checkout_cost.py`). When a connection is idle, nobody is
    queued for one and the pool is not in maintenance, taking it cannot block and cannot
    overtake anyone: it is taken at once, as the non-blocking pool takes it. Otherwise (a
    burst that has used every connection) the caller queues exactly as before, bounded by the
    pool's timeout. A connection given back while nobody waits skips the condition too; a
    waiter that queued meanwhile is woken. Reads the pool's and the condition's private state:
    redis-py is pinned (constraints.txt), and tests/shared/test_redis_pool.py holds the
    waiting behaviour."""

    def _nobody_waits(self) -> bool:
        return not self._condition._waiters and not self._in_maintenance

    async def get_connection(
        self, command_name: Any = None, *keys: Any, **options: Any
    ) -> Any:
        if not (self._available_connections and self._nobody_waits()) or command_name:
            return await super().get_connection()
        connection = self._available_connections.pop()
        self._in_use_connections.add(connection)
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def release(self, connection: Any) -> None:
        if not self._nobody_waits():
            await super().release(connection)  # under the condition, waking one waiter
            return
        await aioredis.ConnectionPool.release(self, connection)
        if self._condition._waiters:  # queued meanwhile
            async with self._condition:
                self._condition.notify()


def _blocking_pool(
    url: str, *, decode_responses: bool = False, size: int = POOL_SIZE, wait_s: float = POOL_WAIT_S
) -> aioredis.BlockingConnectionPool:
    pool = WaitingConnectionPool.from_url(
        url,
        max_connections=size,
        timeout=wait_s,
        decode_responses=decode_responses,
        **_connection_options(),
    )
    make_run_aware(pool)  # each connection knows its Redis run (shared/redis_run.py)
    # ... and packs its commands with hiredis (shared/redis_packing.py)
    pool.connection_class = packed_by_hiredis(pool.connection_class)
    return pool


def make_redis(
    url: str | None,
    *,
    decode_responses: bool = False,
    pool_size: int = POOL_SIZE,
    pool_wait_s: float = POOL_WAIT_S,
) -> aioredis.Redis:
    """A data client: one Redis, a Redis Cluster (`redis+cluster://`), or the embedded one.

    One Redis and the embedded one pool `pool_size` connections; a caller waits at most
    `pool_wait_s` for one, then fails with `ConnectionError`.
    A cluster client is typed as `Redis`: it takes the same commands (routed by key slot),
    scripts and non-transactional pipelines; what it refuses (keys of several slots in one
    script or MULTI) the key modules never build."""
    if url and is_cluster(url):
        return cast(aioredis.Redis, make_cluster(url, decode_responses=decode_responses))
    if url:
        return aioredis.Redis.from_pool(_blocking_pool(
            url, decode_responses=decode_responses, size=pool_size, wait_s=pool_wait_s
        ))
    # fakeredis builds a plain pool (100 connections, raising when exhausted); rebuild it as a
    # blocking one with the same connection class and arguments.
    template = fakeredis.FakeAsyncRedis(
        server=_embedded_server(), decode_responses=decode_responses
    ).connection_pool
    pool = WaitingConnectionPool(
        max_connections=pool_size,
        timeout=pool_wait_s,
        connection_class=template.connection_class,
        **template.connection_kwargs,
    )
    return fakeredis.FakeAsyncRedis.from_pool(pool)


CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


def is_cluster(url: str | None) -> bool:
    """Whether `url` names a Redis Cluster (`redis+cluster://` or `rediss+cluster://`)."""
    return bool(url) and str(url).startswith(CLUSTER_SCHEMES)


def _credentials(url: str) -> tuple[str | None, str | None]:
    """`user:password@` of a cluster URL (both optional), percent-decoded."""
    netloc = url.split("://", 1)[1].split("/", 1)[0]
    if "@" not in netloc:
        return None, None
    user, _, password = netloc.rsplit("@", 1)[0].partition(":")
    return unquote(user) or None, unquote(password) or None


REFRESH_EVERY_S = 0.5
# Stream reads whose keys follow STREAMS: their slot is read here, not asked of a server.
_STREAM_READS = frozenset({"XREAD", "XREADGROUP"})


class WaitingRedisCluster(RedisCluster):
    """redis-py's `RedisCluster`, whose per-node pools raise `MaxConnectionsError` when
    exhausted instead of waiting as `_blocking_pool` does: here a burst's commands wait for
    one of `POOL_SIZE` turns (at most `POOL_WAIT_S`), and each node's pool has room for that
    many plus the pipelines'.

    It also reads the slot map before the first command goes out: a burst of commands on a
    fresh client (redis-py 8.1) otherwise meets the discovery closing the startup nodes'
    connections under them (`'NoneType' object has no attribute 'writelines'`, or a
    connection error; 1 in 10 concurrent BLPOPs on a new client here)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turns = asyncio.Semaphore(POOL_SIZE)
        self._discovered = asyncio.Lock()
        self._ready = False
        self._refreshing = asyncio.Lock()
        self._refreshed_at = -REFRESH_EVERY_S

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        if not self._ready:
            async with self._discovered:
                if not self._ready:
                    await self.initialize()
                    self._ready = True
        try:
            async with asyncio.timeout(POOL_WAIT_S):
                await self._turns.acquire()
        except TimeoutError:
            raise RedisConnectionError("no Redis Cluster connection free in time") from None
        try:
            return await super().execute_command(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError):
            await self._refresh_slots()
            raise
        finally:
            self._turns.release()

    async def _determine_slot(self, command: str, *args: Any) -> int:
        """The slot of a stream read from its own arguments. redis-py asks a server for the
        keys of a command with "movable keys" (`COMMAND GETKEYS`, one more round trip per
        XREADGROUP), and always the node its command table came from at start: once that
        node died, every stream read failed there before redis-py's retry loop, so nothing
        ever moved it (a relay stuck 26 s past a failover, `test_cluster_failover`)."""
        if command.upper() in _STREAM_READS:
            return self._stream_read_slot(command, args)
        return await super()._determine_slot(command, *args)

    def _stream_read_slot(self, command: str, args: Sequence[Any]) -> int:
        """XREAD/XREADGROUP: the keys are the first half of what follows STREAMS (the
        options before it are never the word STREAMS itself: counts, times and names that
        would be are arguments of GROUP, COUNT or BLOCK, so they sit at known offsets)."""
        i = 0
        while i < len(args):
            word = str(args[i].decode() if isinstance(args[i], bytes) else args[i]).upper()
            if word == "STREAMS":
                rest = args[i + 1:]
                if not rest or len(rest) % 2:
                    break
                slots = {self.keyslot(k) for k in rest[: len(rest) // 2]}
                if len(slots) != 1:
                    raise RedisClusterException(
                        f"{command} - all keys must map to the same key slot"
                    )
                return slots.pop()
            i += {"GROUP": 3, "COUNT": 2, "BLOCK": 2}.get(word, 1)
        raise RedisClusterException(f"{command} without STREAMS keys and ids: {args!r}")

    async def _refresh_slots(self) -> None:
        """Read the slot map again after a node failed: once a master dies its replica takes
        its slots. redis-py marks the client for a new read on such an error as well (done
        before its next command); this one happens right away. One refresh at a time, at
        most every `REFRESH_EVERY_S`; the caller's command still fails (its callers retry).
        A client seen "stuck on the dead master for 30 s" had no other master to find: the
        replica had refused to take over (docs/operations.md, Redis Cluster, failover)."""
        now = asyncio.get_running_loop().time()
        if self._refreshing.locked() or now - self._refreshed_at < REFRESH_EVERY_S:
            return
        async with self._refreshing:
            self._refreshed_at = now
            try:
                await self.nodes_manager.initialize()
            except Exception:  # no node answers yet: the next failure tries again
                self._refreshed_at = now - REFRESH_EVERY_S
                return
            # redis-py leaves its command table's node (asked for other commands' movable
            # keys) where it was, perhaps on the dead master: move it to a live one.
            if self.nodes_manager.default_node is not None:
                self.commands_parser.node = self.nodes_manager.default_node


def make_cluster(url: str, *, decode_responses: bool = False) -> RedisCluster:
    """A `WaitingRedisCluster` with the single-Redis client's timeouts and retries."""
    username, password = _credentials(url)
    return WaitingRedisCluster(
        startup_nodes=cluster_nodes(url),
        username=username,
        password=password,
        ssl=url.startswith("rediss"),
        decode_responses=decode_responses,
        max_connections=POOL_SIZE * 2,
        **_connection_options(),
    )


def cluster_nodes(url: str) -> list[ClusterNode]:
    """The startup nodes of `redis+cluster://host:port,host:port` (6379 when a port is left out)."""
    hosts = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    nodes = []
    for part in filter(None, hosts.split(",")):
        host, _, port = part.partition(":")
        nodes.append(ClusterNode(host, int(port or 6379)))
    if not nodes:
        raise ValueError(f"no nodes in {url!r}")
    return nodes


def make_pubsub_redis(url: str) -> aioredis.Redis | RedisCluster:
    """A client for pub/sub: a Redis Cluster for `redis+cluster://`, else one Redis. No socket
    timeout (a subscriber waits on its connection for as long as nothing is published)."""
    if is_cluster(url):
        username, password = _credentials(url)
        return RedisCluster(startup_nodes=cluster_nodes(url), username=username,
                            password=password, ssl=url.startswith("rediss"), driver_info=None)
    return aioredis.Redis.from_url(url, driver_info=None)


# A Lua function naming the Redis server a script runs on: its `run_id`, new at every start
# (a restart, possibly from an AOF a second old, or a replica promoted). State that must be
# rebuilt after such a change records the run it was built on (room epochs, revocation marks).
# The embedded stand-in has no INFO; it lives as long as its process, so one name does.
REDIS_RUN_LUA = """
local function redis_run()
  local info = redis.pcall('INFO', 'server')
  return type(info) == 'string' and string.match(info, 'run_id:(%x+)') or 'embedded'
end
"""


async def aof_enabled(redis: aioredis.Redis) -> bool:
    """Whether Redis persists with its append-only file (`INFO persistence`); on a cluster,
    whether every master does."""
    if isinstance(redis, RedisCluster):
        per_node = await redis.info("persistence", target_nodes=RedisCluster.PRIMARIES)
        return all(str(i.get("aof_enabled", "0")) == "1" for i in per_node.values())
    info = await redis.info("persistence")
    return str(info.get("aof_enabled", "0")) == "1"


async def readiness(redis: aioredis.Redis, *, require_aof: bool) -> str:
    """`/readyz`'s verdict on Redis: "ok", or what is wrong."""
    await redis.ping()
    if require_aof and not await aof_enabled(redis):
        return "error: appendonly is off"
    return "ok"


def make_limiter(url: str | None) -> MovingWindowRateLimiter:
    """A `limits` moving-window limiter on the same Redis (redis-py client), or in memory when
    embedded (one process holds all the counters then). Its pool blocks like `make_redis`'s:
    orders, payments and cart writes are limited, so a flash sale's burst goes through it."""
    if not url:
        return MovingWindowRateLimiter(storage_from_string("async+memory://"))
    if is_cluster(url):
        # `limits`' cluster storage on redis-py: one key per limit, so its moving-window script
        # is single-slot. Its client is swapped for ours (`WaitingRedisCluster`: waits for a
        # turn under a burst, discovers before the first command) and its scripts registered
        # on that one.
        storage = storage_from_string(
            "async+redis+cluster://" + url.split("://", 1)[1], implementation="redispy"
        )
        bridge = storage.bridge  # type: ignore[union-attr]  # RedisClusterStorage has one
        bridge.storage = make_cluster(url)
        bridge.register_scripts()
        return MovingWindowRateLimiter(storage)
    plain = url.removeprefix("async+")
    return MovingWindowRateLimiter(
        storage_from_string(
            "async+" + plain,
            implementation="redispy",
            connection_pool=_blocking_pool(plain),  # type: ignore[arg-type]  # documented option
        )
    )


ScriptCall = tuple[Sequence[KeyT], Sequence[EncodableT]]


async def run_each(
    redis: aioredis.Redis, script: AsyncScript, calls: Sequence[ScriptCall]
) -> list[Any]:
    """Run `script` once per (keys, args), each call on one slot, and return their results in
    order. On one Redis: one non-transactional pipeline (one round trip). On a cluster the
    calls go to different shards: concurrently, each on its own (a pipeline of EVALSHAs could
    meet a NOSCRIPT on a freshly promoted replica that it cannot recover from).

    A single call is made on its own everywhere: redis-py's pipeline asks `SCRIPT EXISTS` before
    every execution that carries a script, a round trip of its own, and the one-room batches of
    a join storm's presence writes and of the viewers tick are nearly all single calls."""
    if not calls:
        return []
    if len(calls) == 1:
        keys, args = calls[0]
        return [await script(keys=keys, args=args)]
    if isinstance(redis, RedisCluster):
        return list(await asyncio.gather(*(script(keys=k, args=a) for k, a in calls)))
    async with redis.pipeline(transaction=False) as pipe:
        for keys, args in calls:
            await script(keys=keys, args=args, client=pipe)
        return list(await pipe.execute())
