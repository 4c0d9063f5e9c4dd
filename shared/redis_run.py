"""Which Redis run a pooled connection talks to, so a script need not ask Redis on every call.

Why: the checkout's fast path must know whether the token revocation marks were restored into
the Redis run it talks to (`shared.tokens`: a Redis that restarted without its last second of
writes may lack a mark, and only the database can say "not revoked" then). Asking from inside
the script (`INFO server`'s `run_id`, `REDIS_RUN_LUA`) cost Redis about 8 µs per call, a third
of the fast path's whole script on a flash sale's sold-out answer (BENCHMARKS.md).

A TCP connection talks to one Redis server process for its whole life: when that process
restarts, the connection breaks and the pool opens a new one. So each connection reads the run
once, when it connects (`INFO server`, after redis-py's own handshake), and a command whose
last argument is `THIS_RUN` is sent with that argument replaced by the run of the connection
it is sent on, read *after* the connection is made healthy: redis-py may reconnect a connection
in its health check (a PING before reusing an idle one), and a command packed before that
reconnect would carry the old run's id to the new run. The answer is what `INFO server` would
have said inside the script, without asking for it on every call. (A proxy that moved one
client connection between Redis processes would break this; Redis is reached directly here,
or through nginx/Kubernetes at the TCP level, which closes the client's connection with its
server's.)

`knows_runs(redis)`: whether a client's connections do this (one Redis through `make_redis`);
the embedded fakeredis and a Redis Cluster do not, and their callers let the script ask.
"""

from __future__ import annotations

import re
from typing import Any

import redis.asyncio as aioredis

_RUN_ID = re.compile(rb"run_id:([0-9a-f]+)")


class _ThisRun:
    """The placeholder (`THIS_RUN`); never sent."""

    def __repr__(self) -> str:
        return "THIS_RUN"


THIS_RUN: Any = _ThisRun()


class _RunAware:
    """Mixed into redis-py's connection classes (before them)."""

    redis_run = ""

    async def on_connect_check_health(self, check_health: bool = True) -> None:
        await super().on_connect_check_health(check_health=check_health)  # type: ignore[misc]
        await self.send_command("INFO", "server", check_health=False)
        info = await self.read_response()  # type: ignore[attr-defined]
        raw = info.encode() if isinstance(info, str) else bytes(info)
        found = _RUN_ID.search(raw)
        self.redis_run = found.group(1).decode() if found else ""

    async def send_command(self, *args: Any, **kwargs: Any) -> None:
        if not args or args[-1] is not THIS_RUN:
            await super().send_command(*args, **kwargs)  # type: ignore[misc]
            return
        connection: Any = self
        if not connection.is_connected:
            await connection.connect()
        elif kwargs.get("check_health", True):
            await connection.check_health()  # may reconnect: the run is read after it
        # '' (a server whose INFO has no run_id): the script asks for the run itself.
        packed = connection.pack_command(*args[:-1], self.redis_run)
        await connection.send_packed_command(packed, check_health=False)


class RunAwareConnection(_RunAware, aioredis.Connection):
    pass


class RunAwareSSLConnection(_RunAware, aioredis.SSLConnection):
    pass


class RunAwareUnixConnection(_RunAware, aioredis.UnixDomainSocketConnection):
    pass


_RUN_AWARE: dict[type[Any], type[Any]] = {
    aioredis.Connection: RunAwareConnection,
    aioredis.SSLConnection: RunAwareSSLConnection,
    aioredis.UnixDomainSocketConnection: RunAwareUnixConnection,
}


def make_run_aware(pool: aioredis.ConnectionPool) -> None:
    """Make the connections `pool` opens from now on read their run (see the module)."""
    pool.connection_class = _RUN_AWARE.get(pool.connection_class, pool.connection_class)


def knows_runs(redis: Any) -> bool:
    pool = getattr(redis, "connection_pool", None)
    return pool is not None and issubclass(getattr(pool, "connection_class", object), _RunAware)
