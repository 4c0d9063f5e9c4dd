"""Smoke test of bench/flash_sale.py (BENCHMARKS.md): a tiny run end to end (raw clients, a
real API process, the load generator: wrk, installed by scripts/ensure_services.sh), so the
benchmark keeps working. It checks the tooling and the sale's outcome (exactly the units sold,
the rest clean 409s), not speed."""

from __future__ import annotations

import re
import sys

from tests.helpers.procs import REPO_ROOT, run_checked


def test_flash_sale_bench_runs_end_to_end(redis_url: str) -> None:
    # wrk stops at --duration and does not count the requests still in flight then: 3 s, so
    # that the 5 units are long sold (in the first requests) when it stops, even on a machine
    # answering 10 requests a second (at 1 s an order in flight at the end went uncounted).
    done = run_checked(
        [sys.executable, REPO_ROOT / "bench" / "flash_sale.py", "--redis-url", redis_url,
         "--duration", "3", "--connections", "4", "--units", "5", "--buyers", "5",
         "--requests", "200", "--phases", "b,b0"],
        cwd=REPO_ROOT, timeout=180,
    )
    out = done.stdout
    assert re.search(r"\(a\) raw conditional UPDATE.*: [\d,]+ updates/s", out), out
    # MariaDB runs on this machine (scripts/ensure_services.sh), so its CPU per update is read.
    assert re.search(r"MariaDB CPU: \d+ % \(\d+ µs per update\)", out), out
    # The event consumer runs as its own process, as in production, and its CPU is read.
    assert re.search(r"event consumer \d+ %", out), out
    sale = re.search(r"\(b\) API flash sale.*statuses=\{(.*?)\}", out)
    assert sale, out
    statuses = dict(re.findall(r"(\d+): (\d+)", sale.group(1)))
    assert statuses.get("201") == "5", out  # exactly the units, never more
    assert set(statuses) <= {"201", "409"}, out
    flood = re.search(r"\(b0\) .*statuses=\{(.*?)\}", out)
    assert flood and set(dict(re.findall(r"(\d+): (\d+)", flood.group(1)))) == {"409"}, out
