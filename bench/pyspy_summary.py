"""py-spy helpers of the benchmarks: record a process for a while, then summarise where its
event-loop thread spent the time (by innermost library on the stack, and the inclusive time of
our own functions), so a benchmark run says where the time goes without opening a flame graph.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path


def start_py_spy(pid: int, seconds: float) -> tuple[subprocess.Popen[bytes], Path]:
    """Sample the API process from 2 s into the run (after the clients' start-up)."""
    out = Path(f"/tmp/flash_sale_profile_{pid}_{time.monotonic_ns()}.txt")
    cmd = (f"sleep 2; exec {Path(sys.executable).parent / 'py-spy'} record -p {pid} "
           f"-d {int(seconds)} -r 200 -f raw -o {out} --nonblocking")
    return subprocess.Popen(["sh", "-c", cmd], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL), out


# First matching substring of a sampled stack (innermost frame first) names its bucket.
_BUCKETS = [
    ("jose/", "JWT verify (python-jose, ES256)"),
    ("cryptography", "JWT verify (python-jose, ES256)"),
    ("aiomysql", "MariaDB round trips (aiomysql)"),
    ("pymysql", "MariaDB round trips (aiomysql)"),
    ("sqlalchemy", "SQLAlchemy (statements, ORM)"),
    ("redis/", "Redis (redis-py)"),
    ("pydantic", "pydantic validation/serialisation"),
    ("structlog", "logging"),
    ("prometheus", "metrics"),
    ("fastapi/", "FastAPI/Starlette routing + dependencies"),
    ("starlette/", "FastAPI/Starlette routing + dependencies"),
    ("uvicorn/", "uvicorn HTTP (httptools)"),
    ("commerce/", "our code (commerce/)"),
    ("shared/", "our code (shared/)"),
    ("asyncio/", "event loop"),
    ("uvloop", "event loop"),
]


def _bucket(frames: list[str]) -> str:
    """The innermost library (or our code) on the stack; socket writes and reads done through
    asyncio streams count for the client library above them (aiomysql, redis-py)."""
    for frame in reversed(frames):
        for key, name in _BUCKETS:
            if key in frame and name != "event loop":
                return name
    return "event loop" if any("asyncio/" in f or "uvloop" in f for f in frames) else "other"


def _records(text: str) -> list[str]:
    """The collapsed stacks ("frame;frame;... count"), one per record: a frame's name can hold
    a newline (SQLAlchemy compiles functions whose source text is their name), so a line that
    does not end in a count continues on the next."""
    records: list[str] = []
    pending = ""
    for line in text.splitlines():
        pending += line
        head, _, count = pending.rpartition(" ")
        if head and count.isdigit():
            records.append(pending)
            pending = ""
    return records


def print_profile(spy: subprocess.Popen[bytes], path: Path) -> None:
    spy.wait(60)
    if not path.exists():
        print("    (py-spy wrote no profile: is ptrace allowed?)")
        return
    buckets: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in _records(path.read_text()):
        stack, _, count = line.rpartition(" ")
        if "Thread._bootstrap" in stack:
            continue  # idle helper threads (thread pools) are not the event loop's time
        n = int(count)
        total += n
        frames = stack.split(";")
        buckets[_bucket(frames)] += n
        ours = [f for f in frames if "commerce/" in f or "shared/" in f]
        for frame in set(ours):
            functions[frame.split(" (")[0]] += n
    print(f"    py-spy: {total} samples ({path}) of the API process's event loop thread")
    for name, n in buckets.most_common():
        print(f"      {100 * n / total:5.1f}%  {name}")
    print("    inclusive time of our functions:")
    for name, n in functions.most_common(12):
        print(f"      {100 * n / total:5.1f}%  {name}")
