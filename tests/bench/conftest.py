"""Shared by the bench/fanout tool tests: Node and the benchmark's npm dependencies."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers.procs import REPO_ROOT, run_checked

BENCH = REPO_ROOT / "bench" / "fanout"
NODE = shutil.which("node")


@pytest.fixture(scope="session")
def bench_deps() -> None:
    """socket.io, socket.io-client and ws from bench/fanout/package-lock.json."""
    if NODE is None:
        pytest.skip("node is not installed (bench/fanout needs Node.js 20)")
    if not (BENCH / "node_modules" / "socket.io").is_dir():
        run_checked(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, timeout=300)
