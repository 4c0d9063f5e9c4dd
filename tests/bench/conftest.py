"""Shared by the bench/fanout tool tests: Node and the benchmark's npm dependencies."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers.procs import REPO_ROOT, run_checked

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
