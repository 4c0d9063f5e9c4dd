"""The sandbox providers' records, kept in Redis (or the embedded stand-in) for a week.

A sandbox is a provider: its records must outlive a request and be shared by every process
(the API serves the pages, a Celery worker's adapter confirms, queries and refunds). Each
operation opens and closes its own client, because adapters run on the API's loop and on each
worker task's loop, and a pooled client must not cross loops. Development traffic only.
"""

from __future__ import annotations

from typing import Any

from commerce.payment_wire import exactjson
from shared.redis import make_redis

PREFIX = "sandbox:payments"
TTL_S = 7 * 24 * 3600


class SandboxStore:
    def __init__(self, redis_url: str | None) -> None:
        self.redis_url = redis_url

    async def get(self, kind: str, key: str) -> dict[str, Any] | None:
        client = make_redis(self.redis_url, decode_responses=True)
        try:
            raw = await client.get(f"{PREFIX}:{kind}:{key}")
        finally:
            await client.aclose()
        return exactjson.loads(raw) if raw else None

    async def put(self, kind: str, key: str, record: dict[str, Any]) -> None:
        client = make_redis(self.redis_url, decode_responses=True)
        try:
            await client.set(f"{PREFIX}:{kind}:{key}", exactjson.dumps(record), ex=TTL_S)
        finally:
            await client.aclose()

    async def next_id(self, kind: str) -> int:
        """A sequence per kind (provider transaction numbers), unique across processes."""
        client = make_redis(self.redis_url, decode_responses=True)
        try:
            return int(await client.incr(f"{PREFIX}:seq:{kind}"))
        finally:
            await client.aclose()
