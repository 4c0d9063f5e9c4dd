"""`EngineServer.dispatch_message`: the application's `message` handler runs as the library's
`_trigger_event(..., run_async=True)` ran it: in its own task (the read loop is not held), an
error logged, not raised into the read loop; a plain function handler still works."""

from __future__ import annotations

import asyncio
import logging

import pytest

from realtime.protocol import EngineServer


async def test_a_coroutine_handler_runs_in_its_own_task() -> None:
    server = EngineServer(async_mode="aiohttp")
    started = asyncio.Event()
    release = asyncio.Event()
    seen: list[tuple[str, object]] = []

    async def on_message(sid: str, data: object) -> None:
        started.set()
        await release.wait()
        seen.append((sid, data))

    server.on("message", on_message)
    await server.dispatch_message("s1", "2[\"join\"]")  # returns before the handler ends
    await started.wait()
    assert seen == []
    release.set()
    for _ in range(3):
        await asyncio.sleep(0)
    assert seen == [("s1", "2[\"join\"]")]


async def test_a_failing_handler_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test_message_dispatch")
    server = EngineServer(async_mode="aiohttp", logger=logger)
    done = asyncio.Event()

    async def on_message(sid: str, data: object) -> None:
        done.set()
        raise RuntimeError("boom")

    server.on("message", on_message)
    with caplog.at_level(logging.ERROR, logger="test_message_dispatch"):
        await server.dispatch_message("s1", "x")
        await done.wait()
        for _ in range(3):
            await asyncio.sleep(0)
    assert "message async handler error" in caplog.text


async def test_a_plain_function_handler_still_runs() -> None:
    server = EngineServer(async_mode="aiohttp")
    seen: list[object] = []
    server.on("message", lambda sid, data: seen.append(data))
    await server.dispatch_message("s1", "x")
    for _ in range(3):
        await asyncio.sleep(0)
    assert seen == ["x"]
