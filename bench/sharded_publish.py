"""Publish cost of the sharded fan-out: one node's emits to rooms, ordered publisher vs direct.

A write-only `ShardedRedisManager` (as a gateway node or the relay publishes) emits chat-sized
payloads to `--rooms` rooms from `--concurrency` concurrent senders, `--emits` in all. Two ways
of publishing are compared in one run:

- `ordered`: the manager as shipped, each node's publishes through one queue drained by one
  task in pipelines (realtime/publisher.py), in call order;
- `direct`: the previous path, one `SPUBLISH` per emit awaited by its caller (on a Redis Cluster
  one connection per command, not in call order; on one Redis one pooled connection each).

For each: emits/s (wall clock) and the publishing process's CPU per emit (user + system,
`time.process_time`). Nobody subscribes, so Redis's own cost is the same for both.

    flock /tmp/lc-bench.lock .venv/bin/python bench/sharded_publish.py \\
        --url redis://127.0.0.1:6379/13 [--url redis+cluster://127.0.0.1:7001] [--rounds 3]

Prints a markdown table; appends JSON lines to var/bench-sharded/publish.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from realtime.sharding import ShardedRedisManager
from shared.redis import make_pubsub_redis

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench-sharded"


class DirectPublish(ShardedRedisManager):
    """The publish path before the ordered publisher: one awaited SPUBLISH per emit."""

    failed = 0

    async def _publish(self, data: dict[str, Any]) -> None:
        try:
            await self.redis.spublish(self._channel_for(data), self.json.dumps(data))
        except Exception:
            self.failed += 1
            await self._refresh_slots()


async def one(kind: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    cls = DirectPublish if kind == "direct" else ShardedRedisManager
    manager = cls(make_pubsub_redis(url), channel=f"bench-publish-{kind}", write_only=True)
    per_sender = args.emits // args.concurrency

    async def sender(s: int, per_sender: int = per_sender) -> None:
        for n in range(per_sender):
            room = f"stream:{(s * per_sender + n) % args.rooms}"
            await manager.emit("chat", {"id": f"{s}-{n}", "user": {"id": s, "name": "bench"},
                                        "text": "hello from the benchmark " * 3, "seq": n},
                               namespace="/", room=room)

    await asyncio.gather(*(sender(s, 2) for s in range(args.concurrency)))  # warm connections
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(sender(s) for s in range(args.concurrency)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await manager.close_publisher()
    await manager.redis.aclose()
    emits = per_sender * args.concurrency
    return {"publisher": kind, "redis": "cluster" if "cluster" in url else "redis",
            "concurrency": args.concurrency, "rooms": args.rooms, "emits": emits,
            "emits_per_s": round(emits / wall), "cpu_us_per_emit": round(1e6 * cpu / emits, 1),
            "failed": getattr(manager, "failed", 0)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--url", action="append",
                        help="Redis or redis+cluster:// URL (repeatable)")
    parser.add_argument("--emits", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50,
                        help="concurrent senders (direct fails past its pool of 100)")
    parser.add_argument("--rooms", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per URL")
    args = parser.parse_args()
    rows = []
    for url in args.url or ["redis://127.0.0.1:6379/13"]:
        for _ in range(args.rounds):
            for kind in ("direct", "ordered"):
                row = await one(kind, url, args)
                print(json.dumps(row), flush=True)
                rows.append(row)
    OUT.mkdir(parents=True, exist_ok=True)
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = "".join(json.dumps({**row, "at": at}) + "\n" for row in rows)
    with (OUT / "publish.jsonl").open("a") as f:
        f.write(lines)
    print("\n| Redis | publisher | concurrency | emits/s | CPU µs / emit | failed |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['redis']} | {r['publisher']} | {r['concurrency']} | {r['emits_per_s']} | "
              f"{r['cpu_us_per_emit']} | {r['failed']} |")


if __name__ == "__main__":
    asyncio.run(main())
