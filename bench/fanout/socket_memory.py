"""Where one idle connection's memory goes (issue 20): the gateway in this process under
tracemalloc, N idle WebSocket connections (optionally joined to one room) from `idle.js` in a
Node subprocess, then the Python heap growth per connection grouped by source file, and the
resident-memory growth per connection beside it (RSS also counts the allocator's slack and the
kernel's socket buffers are not in either).

    .venv/bin/python bench/fanout/socket_memory.py --connections 2000 [--join] [--top 15]

Runs on the embedded default (fakeredis, in-process bus), so nothing else is needed; with
`--redis-url` on a real Redis. Memory per connection is not affected by machine load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from realtime.app import CTX, create_app  # noqa: E402
from realtime.protocol.accept import GatewayRunner  # noqa: E402
from shared.livedata import StreamMeta, put_stream  # noqa: E402
from shared.settings import GatewaySettings  # noqa: E402

HERE = Path(__file__).resolve().parent


def rss_kb() -> int:
    with open(f"/proc/{os.getpid()}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def _short(path: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/", "python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


async def measure(args: argparse.Namespace) -> dict:
    settings = GatewaySettings(
        redis_url=args.redis_url, log_level="WARNING",
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings)
    runner = GatewayRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}"
    stream_id = 9_000_001
    await put_stream(app[CTX].redis, StreamMeta(id=stream_id, host_id=1, status="live",
                                                title="memory", product_ids=[],
                                                moderator_ids=[]))
    cmd = ["node", str(HERE / "idle.js"), "--url", url, "--connections", str(args.connections)]
    if args.join:
        cmd += ["--stream-id", str(stream_id)]
    # A few connections first, so one-off caches and lazily built objects are not counted.
    warm = await asyncio.create_subprocess_exec(*cmd[:-1], "50", stdout=subprocess.PIPE)
    assert warm.stdout is not None
    await warm.stdout.readline()
    warm.terminate()
    await warm.wait()
    await asyncio.sleep(1)
    gc.collect()
    before, rss_before = tracemalloc.take_snapshot(), rss_kb()
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    ready = json.loads(await proc.stdout.readline())
    await asyncio.sleep(args.settle)
    gc.collect()
    after, rss_after = tracemalloc.take_snapshot(), rss_kb()
    proc.terminate()
    await proc.wait()
    n = int(ready["connected"])
    stats = after.compare_to(before, args.key)
    heap = sum(s.size_diff for s in stats)
    result = {
        "connections": n,
        "joined_room": args.join,
        "python_heap_bytes_per_connection": round(heap / n),
        "rss_kb_per_connection": round((rss_after - rss_before) / n, 1),
        "by_file": [
            {"file": _short(str(s.traceback[0].filename))
             + (f":{s.traceback[0].lineno}" if args.key == "lineno" else ""),
             "bytes_per_connection":
             round(s.size_diff / n), "blocks_per_connection": round(s.count_diff / n, 1)}
            for s in stats[: args.top]
        ],
    }
    # The result first: on a loaded machine the shutdown of a few thousand just-closed
    # connections can take long, and it is not what is measured.
    print(json.dumps(result, indent=1), flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(runner.cleanup(), 30)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=2000)
    p.add_argument("--join", action="store_true", help="each connection joins one room")
    p.add_argument("--redis-url", default=None, help="default: the embedded fakeredis")
    p.add_argument("--settle", type=float, default=3.0)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--key", choices=("filename", "lineno"), default="filename",
                   help="group by source file, or by the line that allocated")
    args = p.parse_args()
    tracemalloc.start(1)
    asyncio.run(measure(args))


if __name__ == "__main__":
    main()
