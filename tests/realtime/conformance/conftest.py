"""Two servers speaking the protocols, side by side: our gateway's transport
(`python -m realtime.conformance`) and the Node reference (tests/js/conformance-reference.mjs).

Every conformance test runs against both (`server` is parametrized), so the report shows our
score and Node's from the same run, and a behaviour that differs shows as a failure on one side.
Both use the reference configuration of the official suites: pingInterval 300 ms, pingTimeout
200 ms, maxPayload 1,000,000, connect timeout 1 s.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.helpers.node import JS_DIR, node_with_modules
from tests.helpers.procs import free_port, spawn, wait_http
from tests.realtime.wire import Frames, Wire

__all__ = ["Frames", "Wire"]

PING_INTERVAL_MS = 300
PING_TIMEOUT_MS = 200
MAX_PAYLOAD = 1_000_000
CONNECT_TIMEOUT_S = 1.0


@pytest.fixture(scope="session")
def servers() -> Iterator[dict[str, str]]:
    """Base URLs of both servers, started once for the session."""
    with ExitStack() as stack:
        urls: dict[str, str] = {}
        procs = []
        for name, cmd in (
            ("gateway", [sys.executable, "-m", "realtime.conformance", "--port"]),
            ("node", [node_with_modules("socket.io", "engine.io"),
                      str(JS_DIR / "conformance-reference.mjs")]),
        ):
            port = free_port()
            proc = stack.enter_context(spawn([*cmd, str(port)], name=f"conformance-{name}"))
            urls[name] = f"http://127.0.0.1:{port}"
            procs.append((proc, urls[name]))
        for proc, url in procs:
            wait_http(f"{url}/engine.io/?EIO=4&transport=polling", proc=proc, timeout=30)
        yield urls


@dataclass(frozen=True)
class Server:
    name: str  # "gateway" or "node"
    url: str


@pytest.fixture(params=["gateway", "node"])
def server(request: pytest.FixtureRequest, servers: dict[str, str]) -> Server:
    return Server(request.param, servers[request.param])


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
def eio(http: aiohttp.ClientSession, server: Server) -> Wire:
    """The bare Engine.IO echo server of `server`."""
    return Wire(http, server.url, "/engine.io/", ours=server.name == "gateway")


@pytest.fixture
def sio(http: aiohttp.ClientSession, server: Server) -> Wire:
    """The Socket.IO server of `server` (its Engine.IO layer as well)."""
    return Wire(http, server.url, "/socket.io/", ours=server.name == "gateway")


async def sleep_ms(ms: float) -> None:
    await asyncio.sleep(ms / 1000)


# --- Our score and Node's, side by side at the end of the run (the CI log) --------------------

_SCORES: dict[str, list[int]] = {"gateway": [0, 0], "node": [0, 0]}  # passed, run


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/realtime/conformance/" not in report.nodeid.replace("\\", "/"):
        return
    if report.when != "call" and not (report.when == "setup" and report.failed):
        return
    params = report.nodeid.partition("[")[2].rstrip("]").split("-")
    for name, score in _SCORES.items():
        if name in params:
            score[1] += 1
            score[0] += int(report.passed)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if any(run for _, run in _SCORES.values()):
        terminalreporter.write_line(
            "protocol conformance (tests/realtime/conformance): "
            + ", ".join(f"{name} {ok}/{run} passed" for name, (ok, run) in _SCORES.items())
        )
