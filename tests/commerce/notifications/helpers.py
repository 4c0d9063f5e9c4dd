"""Shared steps of the notification tests: wait for the consumer, read inbox and mailbox."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from commerce.context import AppContext

T = TypeVar("T")


async def until(
    probe: Callable[[], Awaitable[T]], what: str = "condition", *, timeout: float = 15.0
) -> T:
    """Poll `probe` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def settle(ctx: AppContext, *, timeout: float = 15.0) -> None:
    """Wait until commerce's consumer group has read and acknowledged every event and the
    in-process tasks it queued have finished."""
    group = ctx.settings.notifications.consumer_group

    async def done() -> bool:
        groups = await ctx.redis.xinfo_groups(ctx.settings.events_stream)
        mine = [g for g in groups if g["name"] == group]
        return (bool(mine) and mine[0]["pending"] == 0 and not mine[0]["lag"]
                and not ctx.inline.pending())

    await until(done, timeout=timeout, what="the notification consumer to settle")


async def mailbox(api: httpx.AsyncClient, to: str) -> list[dict[str, Any]]:
    response = await api.get("/api/v1/sandbox/mailbox", params={"to": to})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def inbox(api: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await api.get("/api/v1/users/me/notifications", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
