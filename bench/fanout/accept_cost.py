"""The connect path's own cost: server CPU per WebSocket connect, aiohttp's path against the
accept path (realtime/protocol/accept.py), alternated in one run.

Each round starts one embedded gateway (no Redis: nothing but the connect path and
python-socketio's CONNECT) per runner, connects `--connections` raw WebSocket clients
(`--concurrency` in flight), each waiting for the Engine.IO OPEN and the Socket.IO CONNECT reply,
closes them all, and reads the server's CPU time (/proc/<pid>/stat) from before the first connect
until it is idle again. CPU per connection is what a join storm's connect costs a gateway,
without the join; on a shared machine it is far steadier than wall time.

    flock /tmp/lc-bench.lock .venv/bin/python bench/fanout/accept_cost.py \
        --connections 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNNERS = ("aiohttp", "accept")


def serve(port: int, runner_name: str) -> None:
    """The server process: the gateway app (embedded) behind the chosen runner, on uvloop."""
    import uvloop
    from aiohttp import web

    from realtime.app import create_app
    from realtime.gctuning import tune_gc
    from realtime.protocol.accept import GatewayRunner
    from shared.settings import GatewaySettings

    async def main() -> None:
        settings = GatewaySettings(
            redis_url=None, log_level="WARNING", _env_file=None,  # type: ignore[call-arg]
        )
        app = create_app(settings)
        runner_class = GatewayRunner if runner_name == "accept" else web.AppRunner
        runner = runner_class(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=2048).start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    uvloop.install()
    tune_gc(settings_gc())
    asyncio.run(main())


def settings_gc() -> tuple[int, int, int]:
    from shared.settings import GatewaySettings

    return GatewaySettings(_env_file=None).gc_thresholds  # type: ignore[call-arg]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def masked_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload)
    )


async def one_client(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    data = b""
    while b"\r\n\r\n" not in data or b"0{" not in data:
        chunk = await reader.read(4096)
        if not chunk:
            raise ConnectionError("closed before OPEN")
        data += chunk
    writer.write(masked_frame(b"40"))
    data = data.split(b'"maxPayload"', 1)[1]
    while b"40{" not in data:
        chunk = await reader.read(4096)
        if not chunk:
            raise ConnectionError("closed before CONNECT")
        data += chunk
    writer.transport.abort()


async def storm(port: int, connections: int, concurrency: int) -> tuple[float, int]:
    sem = asyncio.Semaphore(concurrency)
    failed = 0

    async def run() -> None:
        nonlocal failed
        async with sem:
            try:
                await asyncio.wait_for(one_client(port), 30)
            except (OSError, TimeoutError):
                failed += 1

    started = time.monotonic()
    await asyncio.gather(*(run() for _ in range(connections)))
    return time.monotonic() - started, failed


def settle(pid: int, step_s: float = 0.5) -> None:
    last = cpu_s(pid)
    while True:
        time.sleep(step_s)
        now = cpu_s(pid)
        if now - last < 0.02 * step_s:
            return
        last = now


def measure(runner: str, args: argparse.Namespace) -> dict[str, float | str | int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT))}
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--runner", runner],
        stdout=subprocess.PIPE, env=env, cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        import uvloop

        uvloop.run(storm(port, 50, 50))  # warm: imports, first-use caches
        settle(proc.pid)
        before = cpu_s(proc.pid)
        wall, failed = uvloop.run(storm(port, args.connections, args.concurrency))
        settle(proc.pid)
        used = cpu_s(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait()
    return {
        "runner": runner,
        "connections": args.connections,
        "failed": failed,
        "wall_s": round(wall, 2),
        "server_cpu_ms_per_connection": round(used * 1000 / args.connections, 4),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--connections", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    p.add_argument("--runner", choices=RUNNERS, default="accept", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.serve, args.runner)
        return
    results: dict[str, list[float]] = {r: [] for r in RUNNERS}
    for i in range(args.rounds):
        order = RUNNERS if i % 2 == 0 else RUNNERS[::-1]
        for runner in order:
            row = measure(runner, args)
            row["load"] = os.getloadavg()[0]
            print(json.dumps(row), flush=True)
            results[runner].append(float(row["server_cpu_ms_per_connection"]))
    for runner, values in results.items():
        print(f"{runner}: median {statistics.median(values):.4f} ms CPU per connection "
              f"({', '.join(f'{v:.4f}' for v in values)})")
    ratio = statistics.median(results["accept"]) / statistics.median(results["aiohttp"])
    print(f"accept / aiohttp: {ratio:.2f}")


if __name__ == "__main__":
    main()
