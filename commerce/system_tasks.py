"""Operational tasks that belong to no domain."""

from __future__ import annotations

from commerce.context import AppContext
from commerce.tasks import async_task


@async_task("system.ping")
async def ping(ctx: AppContext, token: str) -> str:
    """Round-trip check for operators and tests: proves a worker reaches the broker and Redis."""
    await ctx.redis.set(f"system:ping:{token}", "pong", ex=300)
    return "pong"
