"""Smoke test of bench/notification_fanout.py (BENCHMARKS.md): a tiny run end to end on its own
MariaDB database, so the benchmark keeps working. It checks the tooling and that every follower
was emailed in the first run and none in the in-app-only run, not speed."""

from __future__ import annotations

import os
import re
import sys

from tests.helpers.procs import REPO_ROOT, run_checked


def test_notification_fanout_bench_runs_end_to_end() -> None:
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
    done = run_checked(
        [sys.executable, REPO_ROOT / "bench" / "notification_fanout.py", "--followers", "300",
         "--batch", "100", "--redis-url", redis_url],
        cwd=REPO_ROOT, timeout=120,
    )
    runs = re.findall(r"(inbox[^:]*): 300 followers in [\d.]+ s = [\d,]+ followers/s per worker "
                      r"\(3 batches of 100, \d+ ms each; ([\d,]+) emails sent\)", done.stdout)
    assert runs == [("inbox + email", "300"), ("inbox only", "0")], done.stdout
