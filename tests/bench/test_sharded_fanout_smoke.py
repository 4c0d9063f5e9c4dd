"""Smoke test of bench/sharded_fanout.py (BENCHMARKS.md): a tiny run of both managers end to end
(three real gateway nodes, the Node receivers, the publisher), so the benchmark keeps working.
It checks the tooling and the exact part of what the benchmark shows, the pub/sub messages each
node takes off Redis: with python-socketio's single channel a node with no busy room of its own
takes every room's messages, with the sharded manager none. Not speed."""

from __future__ import annotations

import json
import socket
import sys
from typing import Any

import pytest

from shared.redis import is_cluster
from tests.helpers.procs import REPO_ROOT, run_checked


def _free_base_port() -> int:
    """A port with the next two free as well (one per gateway node)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base > 65000:
            continue
        try:
            for port in (base, base + 1, base + 2):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no three consecutive free ports")


def test_sharded_fanout_bench_runs_end_to_end(redis_url: str, bench_deps: None) -> None:
    if is_cluster(redis_url):
        pytest.skip("the benchmark's --redis-url is one Redis (--fanout-url takes a cluster)")
    done = run_checked(
        [sys.executable, REPO_ROOT / "bench" / "sharded_fanout.py", "--redis-url", redis_url,
         "--shapes", "2x5", "--rooms-per-node", "2", "--foreign", "0,2", "--seconds", "2",
         "--warmup-s", "1", "--base-port", str(_free_base_port())],
        cwd=REPO_ROOT, timeout=300,
    )
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            rows[(row["manager"], row["busy_elsewhere"])] = row
    assert set(rows) == {("sharded", 0), ("sharded", 2), ("single", 0), ("single", 2)}, done.stdout
    for row in rows.values():
        assert row["n1_delivered_per_s"] > 0, row  # node 1's receivers got their rooms' copies
    # Only node 1's rooms busy: nodes 2 and 3 hear them on the single channel, not sharded.
    single, sharded = rows[("single", 0)], rows[("sharded", 0)]
    assert single["n2_pubsub_per_s"] > 0 and single["n3_pubsub_per_s"] > 0, single
    assert sharded["n2_pubsub_per_s"] == 0 and sharded["n3_pubsub_per_s"] == 0, sharded
    assert "| 2x5 | sharded | 0 |" in done.stdout and "| 2x5 | single | 2 |" in done.stdout
