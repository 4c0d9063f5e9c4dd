"""Sharded vs single-channel fan-out: a node's CPU per delivered message as rooms grow elsewhere.

Three gateway nodes (`python -m realtime`), 10 rooms of 100 receivers per node (30 rooms in
all). Node 1's rooms are busy from the start; then node 2's rooms start receiving traffic,
then node 3's. For each step the CPU time each node spent (from /proc, user + system) is divided
by the messages it delivered to its own sockets (`gateway_fanout_writes_total`). With the sharded
manager node 1's cost per delivery stays flat as the other nodes' rooms get busy; with
python-socketio's single channel node 1 decodes every room's traffic, so its cost grows.

Room traffic comes from a write-only manager of the same kind (as an external emitter, e.g. the
relay, publishes it): `--rate` emits per room per second, a chat-sized payload. Receivers are
raw Engine.IO WebSocket clients (guests) that join their room and answer pings.

    .venv/bin/python bench/sharded_fanout.py --redis-url redis://127.0.0.1:6379/13 \\
        [--fanout-url redis+cluster://127.0.0.1:7001] [--managers sharded,single]

Prints a markdown table; appends JSON lines to var/bench-sharded/results.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
import socketio
from prometheus_client.parser import text_string_to_metric_families

from realtime.sharding import ShardedRedisManager
from shared.livedata import StreamMeta, put_stream
from shared.redis import make_pubsub_redis
from shared.tokens import generate_key_pair

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench-sharded"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


async def deliveries(http: aiohttp.ClientSession, url: str) -> float:
    async with http.get(f"{url}/metrics") as response:
        text = await response.text()
    return sum(s.value for f in text_string_to_metric_families(text)
               if f.name == "gateway_fanout_writes" for s in f.samples
               if s.name.endswith("_total"))


async def receiver(http: aiohttp.ClientSession, url: str, stream_id: int,
                   joined: asyncio.Event, counter: list[int]) -> None:
    ws_url = url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    async with http.ws_connect(ws_url, compress=0) as ws:
        await ws.receive()  # Engine.IO open
        await ws.send_str("40")
        await ws.receive()  # socket.io connect
        await ws.send_str(f'421["join",{{"stream_id":{stream_id}}}]')
        async for msg in ws:
            data = msg.data
            if data == "2":
                await ws.send_str("3")
            elif isinstance(data, str) and data.startswith("431"):
                counter[0] += 1
                if counter[0] >= counter[1]:
                    joined.set()


async def start_receivers(http: aiohttp.ClientSession, url: str, rooms: list[int],
                          per_room: int, tasks: list[asyncio.Task[None]]) -> None:
    joined = asyncio.Event()
    counter = [0, len(rooms) * per_room]
    for room in rooms:
        for _ in range(per_room):
            tasks.append(asyncio.create_task(receiver(http, url, room, joined, counter)))
            await asyncio.sleep(0.002)  # a gentle connect ramp
    await asyncio.wait_for(joined.wait(), 120)


async def publish(emitter: Any, rooms: Callable[[], list[int]], rate: float) -> None:
    n = 0
    while True:
        began = time.monotonic()
        for room in rooms():
            n += 1
            await emitter.emit("chat", {"id": str(n), "stream_id": room, "seq": n,
                                        "user": {"id": 1, "name": "bench"},
                                        "text": "hello from the benchmark " * 3,
                                        "ts": int(time.time() * 1000)},
                               namespace="/", room=f"stream:{room}")
        await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - began)))


def start_nodes(env: dict[str, str], base_port: int) -> tuple[list[subprocess.Popen[bytes]],
                                                              list[str]]:
    procs, urls = [], []
    for n in range(3):
        port = base_port + n
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "realtime", "--port", str(port), "--node-id", f"n{n + 1}"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        urls.append(f"http://127.0.0.1:{port}")
    return procs, urls


def stop_nodes(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def report(rows: list[dict[str, Any]]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "results.jsonl", "a") as f:
        for row in rows:
            f.write(json.dumps({**row, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ")}) + "\n")
    print("\n| manager | busy rooms | node 1 deliveries/s | node 1 µs CPU / delivery "
          "| CPU % node 1 / 2 / 3 |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['manager']} | {r['busy_rooms']} | {r['n1_delivered_per_s']} | "
              f"{r['n1_us_per_delivery']} | "
              f"{r['n1_cpu_pct']} / {r['n2_cpu_pct']} / {r['n3_cpu_pct']} |")


async def run(manager: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    private, public = generate_key_pair()
    channel = f"bench-{manager}-{os.getpid()}"
    env = {**os.environ, "APP_ENV": "test", "REDIS_URL": args.redis_url,
           "JWT_PRIVATE_KEY": private, "JWT_PUBLIC_KEY": public, "SOCKETIO_CHANNEL": channel,
           "SOCKETIO_MANAGER": manager, "EVENTS_STREAM": f"events-{channel}",
           "LOG_LEVEL": "WARNING", "DATABASE_URL": "sqlite+aiosqlite:///:memory:"}
    if args.fanout_url:
        env["SOCKETIO_REDIS_URL"] = args.fanout_url
    redis = aioredis.Redis.from_url(args.redis_url)
    rooms_of = [list(range(1 + 100 * n, 1 + 100 * n + args.rooms_per_node)) for n in range(3)]
    for rooms in rooms_of:
        for room in rooms:
            await put_stream(redis, StreamMeta(id=room, host_id=1, status="live", title="bench"))
    procs, urls = start_nodes(env, args.base_port)
    fanout = args.fanout_url or args.redis_url
    emitter: Any = (
        ShardedRedisManager(make_pubsub_redis(fanout), channel=channel, write_only=True)
        if manager == "sharded"
        else socketio.AsyncRedisManager(fanout, channel=channel, write_only=True)
    )
    active: list[int] = []
    tasks: list[asyncio.Task[None]] = []
    rows = []
    connector = aiohttp.TCPConnector(limit=0)
    try:
        async with aiohttp.ClientSession(connector=connector) as http:
            for url in urls:
                for _ in range(100):
                    try:
                        async with http.get(f"{url}/healthz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.2)
            for n in range(3):
                await start_receivers(http, urls[n], rooms_of[n], args.receivers, tasks)
            publisher = asyncio.create_task(publish(emitter, lambda: active, args.rate))
            for step in range(3):
                active.extend(rooms_of[step])
                await asyncio.sleep(args.warmup_s)
                before = [(cpu_seconds(p.pid), await deliveries(http, u))
                          for p, u in zip(procs, urls, strict=True)]
                await asyncio.sleep(args.seconds)
                after = [(cpu_seconds(p.pid), await deliveries(http, u))
                         for p, u in zip(procs, urls, strict=True)]
                row: dict[str, Any] = {"manager": manager, "busy_rooms": len(active),
                                       "fanout": "cluster" if args.fanout_url else "redis"}
                for n, ((c0, d0), (c1, d1)) in enumerate(zip(before, after, strict=True)):
                    delivered = d1 - d0
                    row[f"n{n + 1}_delivered_per_s"] = round(delivered / args.seconds)
                    row[f"n{n + 1}_cpu_pct"] = round(100 * (c1 - c0) / args.seconds, 1)
                    row[f"n{n + 1}_us_per_delivery"] = (
                        round(1e6 * (c1 - c0) / delivered, 2) if delivered else None
                    )
                rows.append(row)
                print(json.dumps(row), flush=True)
            publisher.cancel()
            for t in tasks:
                t.cancel()
            await asyncio.wait([publisher, *tasks], timeout=5)
    finally:
        stop_nodes(procs)
        await redis.aclose()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--fanout-url", default=None, help="SOCKETIO_REDIS_URL of the nodes")
    parser.add_argument("--managers", default="sharded,single")
    parser.add_argument("--rooms-per-node", type=int, default=10)
    parser.add_argument("--receivers", type=int, default=100, help="per room")
    parser.add_argument("--rate", type=float, default=5.0, help="emits per room per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--base-port", type=int, default=8321)
    args = parser.parse_args()
    rows = []
    for manager in args.managers.split(","):
        rows += await run(manager, args)
    report(rows)


if __name__ == "__main__":
    asyncio.run(main())
