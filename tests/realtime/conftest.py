"""Gateway processes on free ports against the real Redis, and socket.io clients for them."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from realtime.app import create_app
from realtime.protocol.accept import GatewayRunner, GatewaySite
from shared.redis import make_redis
from shared.settings import GatewaySettings
from shared.tokens import TokenIssuer
from tests.helpers.procs import Proc, free_port, spawn, wait_http
from tests.realtime.clients import Client, World


class GatewayFactory:
    """Starts gateway nodes (`python -m realtime --port N`) on free ports.

    `factory(name, **env)` starts one; `factory.many(*names, **env)` starts several at once
    (their ~1.5 s start-ups overlap). Extra keyword arguments are environment variables.
    """

    def __init__(self, stack: ExitStack, service_env: dict[str, str]) -> None:
        self.stack = stack
        self.service_env = service_env

    def _spawn(self, name: str, env: dict[str, str]) -> tuple[Proc, str]:
        port = free_port()
        proc = self.stack.enter_context(
            spawn(
                [sys.executable, "-m", "realtime", "--port", str(port), "--node-id", name],
                name=name,
                env={**self.service_env, **env},
            )
        )
        return proc, f"http://127.0.0.1:{port}"

    def __call__(self, name: str = "gateway", **env: str) -> tuple[Proc, str]:
        return self.many(name, **env)[0]

    def many(self, *names: str, **env: str) -> list[tuple[Proc, str]]:
        nodes = [self._spawn(name, env) for name in names]
        for proc, url in nodes:
            wait_http(f"{url}/healthz", proc=proc, timeout=30)
        return nodes


@asynccontextmanager
async def in_process_gateway(
    settings: GatewaySettings,
) -> AsyncIterator[tuple[str, web.Application]]:
    """A gateway served from this test's own process on a free port (its URL and app), for
    tests that reach into the running services."""
    app = create_app(settings)
    runner = GatewayRunner(app)
    await runner.setup()
    port = free_port()
    await GatewaySite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


@pytest.fixture
def gateway_factory(service_env: dict[str, str]) -> Iterator[GatewayFactory]:
    """Gateway nodes for one test; all are stopped (SIGTERM, then SIGKILL) after it."""
    with ExitStack() as stack:
        yield GatewayFactory(stack, service_env)


@pytest.fixture
def gateway(gateway_factory: GatewayFactory) -> tuple[Proc, str]:
    return gateway_factory()


@pytest.fixture
def issuer(jwt_keys: tuple[str, str]) -> TokenIssuer:
    return TokenIssuer(*jwt_keys, issuer="livecommerce", audience="livecommerce", ttl_s=300)


@pytest.fixture
async def aredis(redis_url: str, clean_redis: None) -> AsyncIterator[aioredis.Redis]:
    client = make_redis(redis_url)  # one Redis or the cluster, as the services build it
    yield client
    await client.aclose()


@pytest.fixture
def world(aredis: aioredis.Redis, issuer: TokenIssuer) -> World:
    return World(aredis, issuer)


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    """Append clients here; all are disconnected after the test."""
    made: list[Client] = []
    yield made
    await asyncio.gather(*(c.close() for c in made), return_exceptions=True)
