"""Smoke test of the fan-out benchmark's tools (bench/fanout, BENCHMARKS.md).

Runs the Node socket.io reference server and the load generator for a few seconds: every chat
message the server acknowledged must reach every receiver, and the result line must carry the
numbers the benchmark reports. It checks the tooling, not performance (no thresholds on speed).
"""

from __future__ import annotations

import json

from tests.bench.conftest import BENCH
from tests.helpers.procs import free_port, run_checked, spawn, wait_http


def test_reference_and_loadgen_deliver_every_message(bench_deps: None) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with spawn(["node", BENCH / "reference-server.js", str(port)], name="fanout-reference") as ref:
        wait_http(f"{url}/healthz", proc=ref)
        args = f"--url {url} --server-pid {ref.pid} --receivers 20 --chatters 2 --duration 3"
        done = run_checked(
            ["node", BENCH / "loadgen.js", *args.split(), "--warmup", "0.5", "--drain", "5"],
            cwd=BENCH,
            timeout=90,
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert result["joined"] == 20 and result["join_errors"] == []
    assert result["ack_errors"] == {}
    # 2 chatters x 1 msg/s x 3 s, each copied to 20 receivers; none lost, none twice.
    assert result["acked_in_window"] == result["sent_in_window"] >= 5
    assert result["expected"] == result["acked_in_window"] * 20
    assert result["loss"] == 0 and result["duplicates"] == 0 and result["disconnects"] == 0
    assert result["deliveries_per_s"] > 0
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    assert result["latency_ms"]["samples"] == result["received"]
