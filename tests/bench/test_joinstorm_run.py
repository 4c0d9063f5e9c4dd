"""run.py's join storm as the benchmark runs it (a small one, on one gateway process): the
generator under each scheduling policy (`--joinstorm-sched`), and what each result line carries
to explain a storm's time: the servers' user and system CPU and how often they were preempted.
It checks the tool, not speed (no thresholds on time)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.bench.conftest import BENCH
from tests.helpers.procs import REPO_ROOT, run_checked

CLIENTS = 200


@pytest.mark.parametrize("sched", ["batch", "normal"])
def test_a_storm_records_its_scheduling_and_the_servers_counters(
    bench_deps: None, stormgen: Path, redis_url: str, clean_redis: None, tmp_path: Path,
    sched: str,
) -> None:
    run_checked(
        [sys.executable, BENCH / "run.py", "--redis-url", redis_url, "--servers", "gateway",
         "--procs", "1", "--chatters", "", "--idle", "0", "--joinstorm", str(CLIENTS),
         "--joinstorm-sched", sched, "--out-dir", tmp_path],
        cwd=REPO_ROOT, timeout=180,
    )
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    machine, storm = lines[0], lines[-1]
    assert machine["joinstorm_sched"] == sched
    assert storm["kind"] == "joinstorm" and storm["loadgen"] == "go"
    assert storm["loadgen_sched"] == sched
    assert storm["joined"] == CLIENTS and storm["refused"] == storm["join_failed"] == 0, storm
    counters = storm["server_counters"]
    assert set(counters) == {"user_s", "system_s", "voluntary_switches",
                             "involuntary_switches"}
    # The same /proc ticks as server_cpu_s, split in two (each side rounded to 0.01 s).
    assert abs(counters["user_s"] + counters["system_s"] - storm["server_cpu_s"]) <= 0.02
    assert counters["user_s"] > 0
    assert counters["voluntary_switches"] >= 0 and counters["involuntary_switches"] >= 0
