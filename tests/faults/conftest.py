"""Fault-injection fixtures: the platform on PRIVATE servers that the tests kill and restart.

Never the machine's shared MariaDB, Redis or RabbitMQ (other runs use them at the same time):
each test gets its own `redis-server` (AOF, as production runs it), and where it restarts the
database or the broker, its own `mariadbd` or RabbitMQ node (tests/helpers/private_servers.py).
Each test prints its books (`books()`), so a CI log shows what a fault cost.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from commerce.app import create_app
from commerce.context import AppContext
from shared.settings import CommerceSettings
from tests.commerce.payments.conftest import (  # noqa: F401 (fixtures: the fake providers)
    _ecpay_server,
    fake_ecpay,
)
from tests.helpers.private_servers import PrivateRedis, private_redis
from tests.helpers.procs import free_port, spawn, wait_http


@pytest.fixture
def fault_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    with private_redis(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def fault_settings(
    commerce_settings: CommerceSettings, fault_redis: PrivateRedis, clean_db: None
) -> CommerceSettings:
    return commerce_settings.model_copy(update={"redis_url": fault_redis.url})


@pytest.fixture
async def fault_ctx(fault_settings: CommerceSettings) -> AsyncIterator[AppContext]:
    context = AppContext.build(fault_settings)
    yield context
    await context.close()


@pytest.fixture
async def fault_api(
    fault_settings: CommerceSettings, fault_ctx: AppContext
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(fault_settings, ctx=fault_ctx)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


@pytest.fixture
def fault_gateway(service_env: dict[str, str], fault_redis: PrivateRedis) -> Iterator[str]:
    port = free_port()
    env = {**service_env, "REDIS_URL": fault_redis.url, "RESUME_MAX_EVENTS": "5000",
           "RESUME_MAX_AGE_S": "600", "RELAY_CLAIM_IDLE_MS": "2000"}
    with spawn([sys.executable, "-m", "realtime", "--port", str(port), "--node-id", "g1"],
               name="gateway", env=env) as proc:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc, timeout=30)
        yield f"http://127.0.0.1:{port}"


def books(title: str, **numbers: object) -> None:
    """Print a fault test's books (shown by pytest -s, and in the report when it fails)."""
    print(f"\n[books] {title}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))
