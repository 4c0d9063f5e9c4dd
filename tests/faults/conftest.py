"""Fault-injection fixtures: the platform on PRIVATE servers that the tests kill and restart.

Never the machine's shared MariaDB, Redis or RabbitMQ (other runs use them at the same time):
each test gets its own `redis-server` (AOF, as production runs it), and where it restarts the
database or the broker, its own `mariadbd` or RabbitMQ node (tests/helpers/private_servers.py).
Each test prints its books (`books()`), so a CI log shows what a fault cost.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from commerce.context import AppContext
from shared.settings import CommerceSettings
from shared.tokens import revocations_restored
from tests.commerce.orders.helpers import order_body
from tests.commerce.payments.conftest import (  # noqa: F401 (fixtures: the fake providers)
    _ecpay_server,
    fake_ecpay,
)
from tests.conftest import app_client, built_ctx
from tests.helpers.private_servers import PrivateRedis, private_redis
from tests.helpers.procs import free_port, spawn, wait_http
from tests.helpers.waiting import until


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
    async with built_ctx(fault_settings) as context:
        yield context


@pytest.fixture
async def fault_api(
    fault_settings: CommerceSettings, fault_ctx: AppContext
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(fault_settings, fault_ctx) as client:
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


async def marks_restored(ctx: AppContext, timeout: float = 30.0) -> None:
    """Wait until the API's RevocationGuard restored the token revocation marks into this
    (fresh, private) Redis: gateways refuse signed-in connects with `unavailable` until then,
    and on a loaded machine the guard's first round can fail and retry a second later."""
    await until(lambda: revocations_restored(ctx.redis), "the revocation marks restored",
                timeout=timeout)


def books(title: str, **numbers: object) -> None:
    """Print a fault test's books (shown by pytest -s, and in the report when it fails)."""
    print(f"\n[books] {title}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))


class FlashSale:
    """Buyers ordering one unit each, again and again, until `stop()`; every answer is counted.

    Allowed answers: 201, 409 (sold out), 429 (a buyer's own rate limit) and 503, which must
    carry `Retry-After` and the code `unavailable`; anything else lands in `bad`. After
    `back()` (the fault is over) answers are also counted in `after_back`, and the time of the
    first 201 since is kept (`recovery_s`).
    """

    def __init__(
        self, api: httpx.AsyncClient, product_id: int, buyers: list[dict[str, str]], *,
        stream_id: int | None = None, pause_s: float = 0.02,
    ) -> None:
        self.api = api
        self.body = order_body((product_id, 1), **({"stream_id": stream_id} if stream_id else {}))
        self.buyers = buyers
        self.pause_s = pause_s
        self.statuses: Counter[int] = Counter()
        self.after_back: Counter[int] = Counter()
        self.bad: list[str] = []
        self.back_at = 0.0
        self.first_201_after_back = 0.0
        self._stop = asyncio.Event()
        self._tasks = [asyncio.create_task(self._buyer(h)) for h in buyers]

    async def _buyer(self, headers: dict[str, str]) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            key = f"{headers['Authorization'][-12:]}-{n}"
            reply = await self.api.post("/api/v1/orders", json=self.body,
                                        headers={**headers, "Idempotency-Key": key})
            status = reply.status_code
            self.statuses[status] += 1
            if self.back_at:
                self.after_back[status] += 1
                if status == 201 and not self.first_201_after_back:
                    self.first_201_after_back = time.monotonic()
            if status == 503 and not (reply.headers.get("retry-after")
                                      and reply.json()["error"]["code"] == "unavailable"):
                self.bad.append(f"503 without Retry-After/unavailable: {reply.text[:200]}")
            elif status not in (201, 409, 429, 503):
                self.bad.append(f"{status} {reply.text[:200]}")
            await asyncio.sleep(self.pause_s)

    def back(self) -> None:
        self.back_at = time.monotonic()

    @property
    def recovery_s(self) -> float:
        """Seconds from `back()` to the first 201 after it (nan: none yet)."""
        if not self.first_201_after_back:
            return float("nan")
        return round(self.first_201_after_back - self.back_at, 3)

    async def until(self, met: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        """Wait until the buyers' answers show `met()` (say, a 503 met, or a 201 since `back()`)
        instead of for a fixed time that a loaded machine may fill with answers to requests
        already in flight; fail naming `what` after `timeout` (a bound, not an expectation)."""
        deadline = time.monotonic() + timeout
        while not met():
            assert time.monotonic() < deadline, f"{what}: answers {dict(self.statuses)}"
            assert not any(t.done() for t in self._tasks), "a buyer stopped"
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
