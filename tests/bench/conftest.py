"""Shared by the bench/fanout tool tests: Node and the benchmark's npm dependencies."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers.procs import REPO_ROOT, run_checked
from tests.realtime.clients import Client

BENCH = REPO_ROOT / "bench" / "fanout"
NODE = shutil.which("node")
STORMGEN = REPO_ROOT / "var" / "bin" / "stormgen"


@pytest.fixture(scope="session")
def bench_deps() -> None:
    """socket.io, socket.io-client and ws from bench/fanout/package-lock.json."""
    if NODE is None:
        pytest.skip("node is not installed (bench/fanout needs Node.js 20)")
    if not (BENCH / "node_modules" / "socket.io").is_dir():
        run_checked(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, timeout=300)


@pytest.fixture(scope="session")
def stormgen() -> Path:
    """The Go join-storm generator, (re)built by the script `make install` runs; in CI a
    missing Go is a failure."""
    run_checked(["bash", REPO_ROOT / "scripts" / "build_stormgen.sh"], timeout=300)
    if not STORMGEN.exists():
        reason = "go is not installed: apt-get install golang-go (make test installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the stormgen tests: {reason}")
        pytest.skip(reason)
    return STORMGEN


async def room_empties(url: str, stream_id: int) -> None:
    """The storm's clients all left (closed at the end): a late viewer soon is alone."""
    late = await Client("late").connect(url)
    try:
        viewers = None
        for _ in range(100):
            viewers = (await late.join(stream_id))["viewers"]
            if viewers == 1:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{viewers} viewers left behind by the storm")
    finally:
        await late.sio.disconnect()
