"""The development mailbox: email and SMS channels with no credentials keep what they would have
sent in Redis (newest first, capped), and `GET /api/v1/sandbox/mailbox` lists it. Never used in
production (`registry.build_channels` refuses to)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import redis.asyncio as aioredis

from commerce.channels.base import ChannelName, OutgoingMessage

MAILBOX_KEY = "sandbox:mailbox"


class SandboxMailbox:
    def __init__(self, redis: aioredis.Redis, *, size: int) -> None:
        self._redis = redis
        self._size = size

    async def put(self, message: OutgoingMessage) -> None:
        item = {
            "channel": message.channel, "to": message.to, "subject": message.subject,
            "text": message.text, "kind": message.kind, "locale": message.locale,
            "sent_at": datetime.now(UTC).isoformat(),
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lpush(MAILBOX_KEY, orjson.dumps(item))
            pipe.ltrim(MAILBOX_KEY, 0, self._size - 1)
            await pipe.execute()

    async def list(self, *, to: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        raw = await self._redis.lrange(MAILBOX_KEY, 0, self._size - 1)
        items = [orjson.loads(r) for r in raw]
        if to is not None:
            items = [i for i in items if i["to"] == to]
        return items[:limit]


class SandboxChannel:
    provider = "sandbox"

    def __init__(self, name: ChannelName, mailbox: SandboxMailbox) -> None:
        self.name: ChannelName = name
        self._mailbox = mailbox

    async def send(self, message: OutgoingMessage) -> None:
        await self._mailbox.put(message)
