"""`EngineServer`'s session ids and its in-line delivery of MESSAGE packets
(realtime/protocol/engine.py), against python-engineio's own behaviour."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from typing import Any

import engineio
import pytest

from realtime.protocol import EngineServer
from realtime.protocol.engine import ID_RANDOM_BYTES


def test_ids_are_the_librarys_format_and_never_repeat() -> None:
    ours = EngineServer(async_mode="aiohttp")
    theirs = engineio.AsyncServer(async_mode="aiohttp")
    ids = [ours.generate_id() for _ in range(5000)]  # past one 4 KiB buffer of random bytes
    assert len(set(ids)) == len(ids)
    sample = theirs.generate_id()
    for sid in (*ids[:3], *ids[-3:]):
        assert len(sid) == len(sample) == 20
        assert re.fullmatch(r"[A-Za-z0-9_-]{20}", sid)
    # The last 3 bytes are the sequence number, as the library counts it.
    raw = [base64.urlsafe_b64decode(sid) for sid in ids[:2]]
    assert [int.from_bytes(r[ID_RANDOM_BYTES:], "big") for r in raw] == [0, 1]
    # The random parts differ from id to id (not one buffer slice handed out twice).
    assert len({r[:ID_RANDOM_BYTES] for r in map(base64.urlsafe_b64decode, ids)}) == len(ids)


async def test_a_coroutine_message_handler_is_awaited_in_line() -> None:
    """As python-socketio runs Engine.IO (`async_handlers` off)."""
    server = EngineServer(async_mode="aiohttp", async_handlers=False)
    got: list[tuple[str, Any]] = []

    async def on_message(sid: str, data: Any) -> None:
        got.append((sid, data))

    server.on("message", on_message)
    await server.deliver_message("s1", "2[\"join\"]")
    await server.deliver_message("s1", b"\x01")
    assert got == [("s1", "2[\"join\"]"), ("s1", b"\x01")]


async def test_a_failing_message_handler_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = EngineServer(
        async_mode="aiohttp", async_handlers=False, logger=logging.getLogger("engine-test")
    )

    async def on_message(_sid: str, _data: Any) -> None:
        raise RuntimeError("boom")

    server.on("message", on_message)
    with caplog.at_level(logging.ERROR, logger="engine-test"):
        await server.deliver_message("s1", "x")  # does not raise into the read loop
    assert "message async handler error" in caplog.text


async def test_a_plain_function_handler_goes_through_the_library() -> None:
    server = EngineServer(async_mode="aiohttp", async_handlers=False)
    got: list[Any] = []
    server.on("message", lambda sid, data: got.append(data))
    await server.deliver_message("s1", "x")
    assert got == ["x"]


async def test_with_async_handlers_each_message_runs_as_its_own_task() -> None:
    """The library's choice, kept: the read loop does not wait for the handler."""
    server = EngineServer(async_mode="aiohttp")  # async_handlers=True, the library's default
    started = asyncio.Event()
    release = asyncio.Event()

    async def on_message(_sid: str, _data: Any) -> None:
        started.set()
        await release.wait()

    server.on("message", on_message)
    await asyncio.wait_for(server.deliver_message("s1", "x"), 1)  # returns before the handler
    await asyncio.wait_for(started.wait(), 1)
    release.set()
