"""Node-to-node commands over Redis pub/sub: kick a user out of a room, drop revoked sockets.

socket.io's Redis manager can make another node disconnect a socket, but only by sid, and it
knows nothing of our per-socket state (joined rooms, presence, the token's jti). So a command
names a user; every node (including the sender, which receives its own publish) applies it to
the sockets *it* holds, through the handler the namespace registers. Without Redis (the embedded
default, one node) commands are applied in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import orjson
import redis.asyncio as aioredis
import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

log = structlog.get_logger(__name__)


class Command(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    op: Literal["kick", "revoke"]
    user_id: int
    stream_id: int | None = None  # kick: the room to leave
    jti: str | None = None  # revoke: sockets opened with this token
    family: str | None = None  # revoke: sockets whose token came from this refresh family


CommandHandler = Callable[[Command], Awaitable[None]]


class Control:
    def __init__(self, redis: aioredis.Redis, channel: str, *, distributed: bool) -> None:
        self.redis = redis
        self.channel = channel
        self.distributed = distributed
        self.handler: CommandHandler | None = None
        self.ready = asyncio.Event()

    async def kick(self, *, user_id: int, stream_id: int) -> None:
        await self.publish(Command(op="kick", user_id=user_id, stream_id=stream_id))

    async def revoke(
        self, *, user_id: int, jti: str | None = None, family: str | None = None
    ) -> None:
        """Drop the user's sockets opened with `jti` or from `family`; all of them if neither."""
        await self.publish(Command(op="revoke", user_id=user_id, jti=jti, family=family))

    async def publish(self, command: Command) -> None:
        if self.distributed:
            await self.redis.publish(self.channel, command.model_dump_json())
        else:
            await self._apply(command)

    async def _apply(self, command: Command) -> None:
        if self.handler is None:
            return
        try:
            await self.handler(command)
        except Exception:
            log.exception("control_command_failed", op=command.op, user_id=command.user_id)

    async def run(self) -> None:
        """Listen for commands until cancelled; resubscribes after a Redis error."""
        if not self.distributed:
            self.ready.set()
            await asyncio.Event().wait()
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.ready.set()
                async for message in pubsub.listen():
                    await self._on_message(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("control_listener_failed")
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py's stub

    async def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            command = Command.model_validate(orjson.loads(message["data"]))
        except (ValidationError, orjson.JSONDecodeError):
            log.warning("control_bad_message")
            return
        await self._apply(command)
