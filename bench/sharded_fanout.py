"""Sharded vs single-channel fan-out: a node's CPU per delivered message as rooms grow elsewhere.

Three gateway nodes (`python -m realtime`), `--rooms-per-node` rooms on each (10: the issue's 30
rooms, a third per node). Node 1's rooms are busy throughout; the steps add busy rooms on the
*other* nodes (`--foreign`, 0 -> 10 -> 20, taken alternately from nodes 2 and 3). For every step
the benchmark reads, over a fixed window of `--seconds`:

- each node's CPU seconds from /proc/<pid>/stat (user + system);
- the copies its own receivers got (counted by the receivers), hence node 1's CPU per delivered
  message, and the deliveries its `gateway_fanout_writes_total` counts;
- the cross-node messages it took off Redis (`gateway_pubsub_messages_received_total`: the
  sharded manager's room + control channels, or the single channel);
- the load generator's own CPU (receiver processes and the publisher) and the whole machine's,
  with the load average, so a saturated run shows as one.

With the sharded manager node 1 hears only its own rooms, so its CPU per delivery stays flat as
the other nodes get busy; with python-socketio's single channel it decodes every room's traffic.
How much that shows depends on the room shape: each "shape" is receivers per room x emits per
room per second. `100x5` is the issue's (100 receivers per room, chat-sized rate), where local
writes dominate; `10x50` is the labelled variant with one tenth the receivers and ten times the
rate (the same deliveries per node, ten times the cross-node messages), where the foreign
decoding is a visible share. Every shape runs both managers in the same invocation.

Room traffic comes from a write-only manager of the same kind (as the relay, an external
emitter, publishes it), one tick of emits per room at `rate` Hz, issued concurrently. Receivers
are raw Engine.IO/socket.io WebSocket guests in one Node process per gateway node
(bench/fanout/receivers.js: a few microseconds per copy), so the load generator is not the
bottleneck; the table shows its CPU.

    cd bench/fanout && npm ci && cd ../..     # once: the receivers' `ws`
    flock /tmp/lc-bench.lock .venv/bin/python bench/sharded_fanout.py \\
        --redis-url redis://127.0.0.1:6379/12 [--shapes 100x5,10x50] [--rounds 2] \\
        [--fanout-url redis+cluster://127.0.0.1:7001]

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
from dataclasses import dataclass
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
RECEIVERS_JS = ROOT / "bench" / "fanout" / "receivers.js"
TICK = os.sysconf("SC_CLK_TCK")
NODES = 3


@dataclass(frozen=True)
class Shape:
    receivers: int  # per room
    rate: float  # emits per room per second

    @classmethod
    def parse(cls, text: str) -> Shape:
        receivers, rate = text.lower().split("x")
        return cls(int(receivers), float(rate))

    @property
    def label(self) -> str:
        return f"{self.receivers}x{self.rate:g}"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / TICK, sum(values) / TICK


async def node_counters(http: aiohttp.ClientSession, url: str) -> tuple[float, float]:
    """(fan-out writes to local sockets, pub/sub messages received) of one node so far."""
    async with http.get(f"{url}/metrics") as response:
        text = await response.text()
    writes = received = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if not s.name.endswith("_total"):
                continue
            if family.name == "gateway_fanout_writes":
                writes += s.value
            elif family.name == "gateway_pubsub_messages_received":
                received += s.value
    return writes, received


class Disconnected(RuntimeError):
    """Receivers lost their connection mid-run: the run's numbers would not be comparable."""


class Receivers:
    """One receivers.js process: `per_room` raw clients in each of `rooms` on one node."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, url: str, rooms: list[int], per_room: int) -> Receivers:
        proc = await asyncio.create_subprocess_exec(
            "node", str(RECEIVERS_JS), "--url", url, "--rooms", ",".join(map(str, rooms)),
            "--per-room", str(per_room), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        return cls(proc)

    async def ready(self) -> None:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 180)
        status = json.loads(line or b"{}")
        if not status.get("ready") or status.get("failed"):
            raise RuntimeError(f"receivers did not all join: {status}")

    async def counts(self) -> tuple[int, float]:
        """(chat packets received so far, CPU seconds of the process)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"?\n")
        await self.proc.stdin.drain()
        status = json.loads(await asyncio.wait_for(self.proc.stdout.readline(), 30))
        if status["disconnects"]:
            raise Disconnected(f"{status['disconnects']} receivers were disconnected (close "
                               f"codes {status['close_codes']})")
        return status["received"], status["cpu_s"]

    async def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


class Publisher:
    """Emits one chat-sized message to every busy room `rate` times a second, concurrently."""

    def __init__(self, emitter: Any, rate: float) -> None:
        self.emitter = emitter
        self.rate = rate
        self.rooms: list[int] = []
        self.published = 0

    async def run(self) -> None:
        began = time.monotonic()
        tick = 0
        while True:
            rooms = list(self.rooms)
            await asyncio.gather(*(self._emit(room) for room in rooms))
            self.published += len(rooms)
            tick += 1
            # On schedule, without catching up in a burst if a tick ran late.
            delay = began + tick / self.rate - time.monotonic()
            if delay < 0:
                began -= delay
                delay = 0
            await asyncio.sleep(delay)

    async def _emit(self, room: int) -> None:
        n = self.published
        await self.emitter.emit(
            "chat",
            {"id": str(n), "stream_id": room, "seq": n, "user": {"id": 1, "name": "bench"},
             "text": "hello from the benchmark " * 3, "ts": int(time.time() * 1000)},
            namespace="/", room=f"stream:{room}",
        )


def start_nodes(env: dict[str, str], base_port: int) -> tuple[list[subprocess.Popen[bytes]],
                                                              list[str]]:
    OUT.mkdir(parents=True, exist_ok=True)
    procs, urls = [], []
    for n in range(NODES):
        port = base_port + n
        with open(OUT / f"node{n + 1}.log", "wb") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "realtime", "--port", str(port), "--node-id", f"n{n + 1}"],
                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
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


async def wait_healthy(http: aiohttp.ClientSession, url: str,
                       proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120  # a loaded machine starts Python slowly
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            async with http.get(f"{url}/healthz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy (exit code {proc.poll()}; see {OUT}/)")


def foreign_rooms(rooms_of: list[list[int]]) -> list[int]:
    """The other nodes' rooms in the order the steps make them busy: nodes 2 and 3 alternately."""
    return [room for pair in zip(*rooms_of[1:], strict=True) for room in pair]


async def snapshot(http: aiohttp.ClientSession, procs: list[subprocess.Popen[bytes]],
                   urls: list[str], receivers: list[Receivers],
                   publisher: Publisher) -> dict[str, Any]:
    nodes = [(cpu_seconds(p.pid), *await node_counters(http, u))
             for p, u in zip(procs, urls, strict=True)]
    clients = []
    for n, r in enumerate(receivers):
        try:
            clients.append(await r.counts())
        except Disconnected as exc:
            raise Disconnected(f"node {n + 1} (exit code {procs[n].poll()}): {exc}") from None
    return {"t": time.monotonic(), "nodes": nodes, "clients": clients,
            "published": publisher.published, "self_cpu": cpu_seconds(os.getpid()),
            "machine": machine_busy()}


def step_row(before: dict[str, Any], after: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    span = after["t"] - before["t"]
    row = dict(base)
    row["seconds"] = round(span, 1)
    row["published_per_s"] = round((after["published"] - before["published"]) / span)
    loadgen_cpu = after["self_cpu"] - before["self_cpu"]
    for n in range(NODES):
        (c0, w0, p0), (c1, w1, p1) = before["nodes"][n], after["nodes"][n]
        (r0, rc0), (r1, rc1) = before["clients"][n], after["clients"][n]
        loadgen_cpu += rc1 - rc0
        delivered = r1 - r0
        row[f"n{n + 1}_cpu_pct"] = round(100 * (c1 - c0) / span, 1)
        row[f"n{n + 1}_delivered_per_s"] = round(delivered / span)
        row[f"n{n + 1}_writes_per_s"] = round((w1 - w0) / span)
        row[f"n{n + 1}_pubsub_per_s"] = round((p1 - p0) / span)
        row[f"n{n + 1}_us_per_delivery"] = (
            round(1e6 * (c1 - c0) / delivered, 1) if delivered else None
        )
    row["loadgen_cpu_pct"] = round(100 * loadgen_cpu / span, 1)
    (b0, t0), (b1, t1) = before["machine"], after["machine"]
    row["machine_busy_pct"] = round(100 * (b1 - b0) / (t1 - t0), 1)  # of all cores
    row["loadavg_1m"] = round(os.getloadavg()[0], 2)
    return row


async def run(manager: str, shape: Shape, round_: int,
              args: argparse.Namespace) -> list[dict[str, Any]]:
    private, public = generate_key_pair()
    channel = f"bench-{manager}-{os.getpid()}"
    env = {**os.environ, "APP_ENV": "test", "REDIS_URL": args.redis_url,
           "JWT_PRIVATE_KEY": private, "JWT_PUBLIC_KEY": public, "SOCKETIO_CHANNEL": channel,
           "SOCKETIO_MANAGER": manager, "EVENTS_STREAM": f"events-{channel}",
           "LOG_LEVEL": "WARNING", "DATABASE_URL": "sqlite+aiosqlite:///:memory:"}
    if args.fanout_url and manager == "sharded":
        env["SOCKETIO_REDIS_URL"] = args.fanout_url
    fanout = env.get("SOCKETIO_REDIS_URL", args.redis_url)
    redis = aioredis.Redis.from_url(args.redis_url)
    per_node = args.rooms_per_node
    rooms_of = [list(range(1 + 100 * n, 1 + 100 * n + per_node)) for n in range(NODES)]
    for rooms in rooms_of:
        for room in rooms:
            await put_stream(redis, StreamMeta(id=room, host_id=1, status="live", title="bench"))
    emitter: Any = (
        ShardedRedisManager(make_pubsub_redis(fanout), channel=channel, write_only=True)
        if manager == "sharded"
        else socketio.AsyncRedisManager(fanout, channel=channel, write_only=True)
    )
    publisher = Publisher(emitter, shape.rate)
    procs, urls = start_nodes(env, args.base_port)
    receivers: list[Receivers] = []
    rows = []
    base = {"manager": manager, "shape": shape.label, "round": round_ + 1,
            "receivers_per_room": shape.receivers, "rate_per_room": shape.rate,
            "rooms_per_node": per_node, "fanout": "cluster" if "+cluster://" in fanout else "redis"}
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            for proc, url in zip(procs, urls, strict=True):
                await wait_healthy(http, url, proc)
            for n in range(NODES):
                receivers.append(await Receivers.start(urls[n], rooms_of[n], shape.receivers))
            for r in receivers:
                await r.ready()
            publishing = asyncio.create_task(publisher.run())
            publisher.rooms = list(rooms_of[0])
            others = foreign_rooms(rooms_of)
            try:
                for foreign in args.foreign:
                    publisher.rooms = rooms_of[0] + others[:foreign]
                    await asyncio.sleep(args.warmup_s)
                    before = await snapshot(http, procs, urls, receivers, publisher)
                    await asyncio.sleep(args.seconds)
                    after = await snapshot(http, procs, urls, receivers, publisher)
                    row = step_row(before, after, {
                        **base, "busy_elsewhere": foreign,
                        "target_published_per_s": round(len(publisher.rooms) * shape.rate),
                        "n1_expected_per_s": round(per_node * shape.rate * shape.receivers),
                    })
                    rows.append(row)
                    print(json.dumps(row), flush=True)
            finally:
                publishing.cancel()
                await asyncio.gather(publishing, return_exceptions=True)
    finally:
        for r in receivers:
            await r.stop()
        stop_nodes(procs)
        if manager == "sharded":
            await emitter.close_publisher()  # its ordered publisher's drain task
        await redis.aclose()
    return rows


def report(rows: list[dict[str, Any]], note: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "results.jsonl", "a") as f:
        for row in rows:
            f.write(json.dumps({**row, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ")}) + "\n")
    print(f"\n{note}\n")
    print("| shape | manager | busy rooms elsewhere | published/s (target) "
          "| node 1 delivered/s (expected) | node 1 pub/sub msgs/s | node 1 CPU % "
          "| node 1 µs CPU / delivery | vs first step | node 2 / 3 CPU % "
          "| node 2 / 3 pub/sub msgs/s | load gen CPU % | machine busy % | load 1m |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    first: dict[tuple[str, str, int], float] = {}
    for r in rows:
        key = (r["shape"], r["manager"], r["round"])
        us = r["n1_us_per_delivery"]
        first.setdefault(key, us)
        growth = f"{us / first[key]:.2f}x" if us and first[key] else "-"
        print(f"| {r['shape']} | {r['manager']} | {r['busy_elsewhere']} "
              f"| {r['published_per_s']} ({r['target_published_per_s']}) "
              f"| {r['n1_delivered_per_s']} ({r['n1_expected_per_s']}) | {r['n1_pubsub_per_s']} "
              f"| {r['n1_cpu_pct']} | {us} | {growth} "
              f"| {r['n2_cpu_pct']} / {r['n3_cpu_pct']} "
              f"| {r['n2_pubsub_per_s']} / {r['n3_pubsub_per_s']} | {r['loadgen_cpu_pct']} "
              f"| {r['machine_busy_pct']} | {r['loadavg_1m']} |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--fanout-url", default=None,
                        help="SOCKETIO_REDIS_URL of the sharded runs (single always uses "
                        "--redis-url: python-socketio's manager needs one Redis)")
    parser.add_argument("--managers", default="sharded,single")
    parser.add_argument("--shapes", default="100x5,10x50",
                        help="receivers per room x emits per room per second, comma-separated")
    parser.add_argument("--rooms-per-node", type=int, default=10)
    parser.add_argument("--foreign", default="0,10,20",
                        help="busy rooms on nodes 2 and 3 at each step (node 1's are all busy)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat every shape, alternating the managers' order")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window per step")
    parser.add_argument("--warmup-s", type=float, default=3.0)
    parser.add_argument("--base-port", type=int, default=8321)
    args = parser.parse_args()
    args.foreign = [int(v) for v in args.foreign.split(",")]
    if max(args.foreign) > 2 * args.rooms_per_node:
        parser.error("--foreign cannot pass the rooms of nodes 2 and 3")
    managers = args.managers.split(",")
    note = (f"{os.cpu_count()} CPUs, load average at start "
            f"{' / '.join(f'{v:.2f}' for v in os.getloadavg())}, "
            f"{args.rooms_per_node} rooms per node, {args.seconds:g} s windows")
    print(note, flush=True)
    rows = []
    for round_ in range(args.rounds):
        for shape in (Shape.parse(s) for s in args.shapes.split(",")):
            order = managers if round_ % 2 == 0 else managers[::-1]
            for manager in order:
                try:
                    rows += await run(manager, shape, round_, args)
                except Disconnected as exc:  # say so, and go on with the next run
                    print(f"{manager} {shape.label} round {round_ + 1}: {exc}", flush=True)
    shapes = [Shape.parse(s).label for s in args.shapes.split(",")]
    rows.sort(key=lambda r: (shapes.index(r["shape"]), managers.index(r["manager"]), r["round"]))
    report(rows, note)


if __name__ == "__main__":
    asyncio.run(main())
