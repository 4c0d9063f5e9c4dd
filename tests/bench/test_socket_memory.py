"""Memory per idle connection stays cut (issue 20): the gateway's Python heap per idle WebSocket,
measured by the benchmark's own tool (bench/fanout/socket_memory.py: the gateway in its own
process under tracemalloc, 300 idle connections from idle.js).

Before session 7 it was 21.9 KB, of which 2.6 KB were the WSGI environ copied from each request
and ~1.5 KB aiohttp's HTTP parser and request queue kept after the upgrade; afterwards about
15 KB. The bound leaves room for allocator noise at 300 connections, not for either of those
to come back. Heap bytes per connection do not depend on the machine's load.
"""

from __future__ import annotations

import json
import sys

from tests.bench.conftest import BENCH
from tests.helpers.procs import REPO_ROOT, run_checked

MAX_HEAP_BYTES_PER_CONNECTION = 18_000


def test_idle_websocket_heap_stays_under_the_bound(bench_deps: None) -> None:
    done = run_checked(
        [sys.executable, BENCH / "socket_memory.py", "--connections", "300", "--settle", "1",
         "--top", "40"],
        cwd=REPO_ROOT, timeout=240,
    )
    out = done.stdout
    result, _ = json.JSONDecoder().raw_decode(out[out.index("{\n"):])  # after the log lines
    assert result["connections"] == 300, result
    per_connection = result["python_heap_bytes_per_connection"]
    assert 2_000 < per_connection <= MAX_HEAP_BYTES_PER_CONNECTION, result
    by_file = {row["file"]: row["bytes_per_connection"] for row in result["by_file"]}
    # The library's environ (a dict of every header under new HTTP_* keys) is not built.
    assert by_file.get("engineio/async_drivers/aiohttp.py", 0) < 200, by_file
