"""A command ending in THIS_RUN carries the run of the Redis it reaches (shared/redis_run.py):
the checkout's fast path trusts the revocation marks only if they were restored into that run,
so after a restart the placeholder must carry the new run, never the one before it, whichever
way the pooled connection finds out that its server is gone (a failed send and its resend, or
the health check's PING before reusing an idle connection)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shared import redis as shared_redis
from shared.redis_run import THIS_RUN, knows_runs
from tests.conftest import REDIS_URL
from tests.helpers.private_servers import PrivateRedis

pytestmark = pytest.mark.timeout(60)

_ECHO = "return ARGV[#ARGV]"


async def _info_run(client: shared_redis.aioredis.Redis) -> str:
    return str((await client.info("server"))["run_id"])


@pytest.mark.skipif(shared_redis.is_cluster(REDIS_URL), reason="one Redis's connection pool")
async def test_the_placeholder_carries_the_run_of_the_redis_it_reaches(redis_url: str) -> None:
    client = shared_redis.make_redis(redis_url, decode_responses=True)
    try:
        assert knows_runs(client)
        echo = client.register_script(_ECHO)
        runs = await asyncio.gather(*(echo(keys=[], args=["x", THIS_RUN]) for _ in range(30)))
        assert set(runs) == {await _info_run(client)}
    finally:
        await client.aclose()
    assert not knows_runs(shared_redis.make_redis(None))  # embedded: the script asks itself


@pytest.mark.parametrize("idle_check", [False, True], ids=["resend", "health-check"])
async def test_after_a_restart_the_placeholder_carries_the_new_run(
    tmp_path: Path, idle_check: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pool finds a dead connection when it hands it out (a read of the closed socket) and
    # reconnects it there; the server may also die just after. Skip the pool's check, so the
    # connection finds out on the way: its failed send and resend, or its health check.
    async def connect_only(self: object, connection: shared_redis.aioredis.Connection) -> None:
        await connection.connect()

    monkeypatch.setattr(shared_redis.WaitingConnectionPool, "ensure_connection", connect_only)
    if idle_check:  # every reuse PINGs first: the reconnect happens in the health check
        monkeypatch.setattr(shared_redis, "HEALTH_CHECK_INTERVAL_S", 0.001)
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    client = shared_redis.make_redis(server.url, decode_responses=True, pool_size=4)
    try:
        echo = client.register_script(_ECHO)
        before = await asyncio.gather(*(echo(keys=[], args=[THIS_RUN]) for _ in range(4)))
        first = await _info_run(client)
        assert set(before) == {first}
        server.kill()
        await asyncio.to_thread(server.start)
        # The new run has an empty script cache: the first EVALSHA would get NOSCRIPT and be
        # packed again on the reconnected connection, hiding the order this test is about.
        with server.client() as loader:
            loader.script_load(_ECHO)
        after = [await echo(keys=[], args=[THIS_RUN]) for _ in range(8)]  # every pooled one
        second = await _info_run(client)
        assert second != first
        assert set(after) == {second}
    finally:
        await client.aclose()
        server.kill()
