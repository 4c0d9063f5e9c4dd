"""Smoke test of bench/search_page.py (BENCHMARKS.md): a tiny run end to end on its own MariaDB
database, so the benchmark keeps working. It checks the tooling and that both queries find a
full page at the first and the tenth page, not speed."""

from __future__ import annotations

import re
import sys

from tests.helpers.procs import REPO_ROOT, run_checked


def test_search_bench_runs_end_to_end() -> None:
    done = run_checked(
        [sys.executable, REPO_ROOT / "bench" / "search_page.py", "--products", "300",
         "--rounds", "1"],
        cwd=REPO_ROOT, timeout=120,
    )
    lines = re.findall(r"q=(\S+) .*first page [\d.]+ ms, page 10 [\d.]+ ms", done.stdout)
    assert lines == ["耳機", "音質"], done.stdout
