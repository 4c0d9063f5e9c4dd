"""Operational tasks that belong to no domain."""

from __future__ import annotations

from commerce.context import AppContext
from commerce.tasks import async_task


@async_task("system.ping")
async def ping(ctx: AppContext, token: str) -> str:
    """Round-trip check for operators and tests: proves a worker reaches the broker and Redis."""
    await ctx.redis.set(f"system:ping:{token}", "pong", ex=300)
    return "pong"


class DeliberateFailure(RuntimeError):
    """Raised by `system.fail`: an error retrying cannot fix."""


@async_task("system.fail")
async def fail(ctx: AppContext, reason: str) -> None:
    """Always fails, so operators (and tests) can see a task land in the dead-letter queue with
    its arguments and error, and replay it (`python -m commerce.deadletter`)."""
    raise DeliberateFailure(f"deliberate failure: {reason}")
