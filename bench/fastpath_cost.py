"""Redis's cost of the checkout's one script call per answer (the fast path), on a private
`redis-server` that nothing else uses, so its counters and CPU belong to this run alone.

    .venv/bin/python bench/fastpath_cost.py [--calls 20000] [--rounds 3] [--concurrency 20]
    # another checkout (e.g. session 4's end, whose gate script is `StockGate.take`):
    (cd /work/wt/base && .venv/bin/python /work/wt/flash/bench/fastpath_cost.py --tree .)

Why: in the flash sale's sold-out flood every answer is this one round trip, and on a 2-core
machine every microsecond Redis spends on it is taken from the API processes. The flash-sale
benchmark reads Redis's CPU from /proc, but the shared Redis serves every engineer's tests too;
here nothing else runs on it.

Calls the tree's own fast path (`FastPath.take` on main, `StockGate.take` on trees before the
checkout redesign) as the hot route does for the benchmark's request: one line, a fresh
Idempotency-Key, the token's revocation checked in the script, and (where the tree has them)
the order limits counted and the purchase caps on but never reached, as `bench/flash_sale.py`
runs them. `--phase b0`: the product is sold out (every call a stored rejection);
`c`: it has units (every call a take that sets the marker and counts the caps).
Per round it prints Redis's `INFO commandstats` time per script call (the script's own
execution), redis-server's CPU per call from /proc (also the network and the event loop), and
this client's CPU per call (redis-py encoding the call and parsing the answer).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", default=str(Path(__file__).resolve().parent.parent),
                        help="the checkout whose code is measured (default: this file's)")
    parser.add_argument("--phase", choices=("b0", "c"), default="b0")
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--buyers", type=int, default=500)
    parser.add_argument("--max-unpaid", type=int, default=1_000_000_000,
                        help="MAX_UNPAID_ORDERS_PER_BUYER (0: no cap; as the flash bench: never "
                             "reached)")
    parser.add_argument("--limit-per-buyer", type=int, default=0,
                        help="the product's limit_per_buyer (0: none, as the flash bench)")
    parser.add_argument("--family", action="store_true",
                        help="tokens from a login (a refresh family: one more mark to check)")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main() -> None:
    args = parse()
    args.tree = str(Path(args.tree).resolve())
    sys.path.insert(0, args.tree)
    os.chdir(args.tree)
    server = shutil.which("redis-server")
    if server is None:
        sys.exit("redis-server is not installed")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="fastpath-cost-")
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        asyncio.run(run(args, port, proc.pid))
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def fastpath_call(args: argparse.Namespace, redis: Any, product: int) -> Any:
    """The tree's one-round-trip call for request `n`, as its hot route makes it."""
    from shared.tokens import Principal

    def principal(user: int) -> Principal:
        return Principal(user_id=user, role="buyer", name="Buyer", jti=uuid.uuid4().hex,
                         expires_at=int(time.time()) + 3600, issued_at=int(time.time()),
                         family=uuid.uuid4().hex if args.family else None)

    body = {"items": [{"product_id": product, "quantity": 1}]}
    try:
        from commerce.orders.checkout.answers import AnswerKey, FirstAnswers
        from commerce.orders.checkout.fastpath import FastPath
    except ImportError:  # before the checkout redesign (session 4's end)
        from commerce.orders.idempotency import answer_keys, request_hash
        from commerce.orders.stock_gate import KeyCheck, StockGate
        from commerce.orders.transaction import SCOPE

        gate = StockGate(redis, None, ttl_s=600)  # type: ignore[arg-type]

        async def old(n: int) -> Any:
            user = 1000 + n % args.buyers
            key = f"bench-{n}"
            check = KeyCheck(*answer_keys(user, SCOPE, key), request_hash(body),
                             rejection_ttl_s=600)
            return await gate.take({product: 1}, key_check=check, unrevoked=principal(user))

        return old

    from commerce.inventory.gate import StockGate as Gate
    from commerce.throttle import OrderLimits

    gate = Gate(redis, None, ttl_s=600)  # type: ignore[arg-type]
    fastpath = FastPath(gate, FirstAnswers(redis, None, rejection_ttl_s=600),  # type: ignore[arg-type]
                        max_unpaid_orders=args.max_unpaid)
    limits = OrderLimits("100000000/minute", "100000000/minute")

    async def new(n: int) -> Any:
        user = 1000 + n % args.buyers
        answer = AnswerKey.of(user, f"bench-{n}", body)
        return await fastpath.take({product: 1}, buyer_id=user, answer=answer,
                                   unrevoked=principal(user),
                                   rate=limits.windows(user_id=user, ip="127.0.0.1"))

    return new


async def run(args: argparse.Namespace, port: int, pid: int) -> None:
    import redis.asyncio as aioredis

    try:  # the tree's own client, as its app makes it
        from shared.redis import make_redis
        redis = make_redis(f"redis://127.0.0.1:{port}/0", decode_responses=True)
    except ImportError:
        redis = aioredis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    for _ in range(100):
        try:
            await redis.ping()
            break
        except OSError:
            await asyncio.sleep(0.05)
    product = 7
    await redis.set(f"stockgate:{product}", 0 if args.phase == "b0" else 10**9)
    await redis.set(f"stocklimit:{product}", args.limit_per_buyer)
    try:  # main: the revocation marks are restored into this Redis run
        from shared.tokens import mark_revocations_restored
        await mark_revocations_restored(redis)
    except ImportError:
        pass
    call = fastpath_call(args, redis, product)
    sent = 0

    async def one_round(count: int) -> tuple[float, float, float, float]:
        nonlocal sent
        end = sent + count

        async def worker() -> None:
            nonlocal sent
            while sent < end:
                n = sent
                sent += 1
                await call(n)

        await redis.config_resetstat()
        server_cpu, cpu, wall = cpu_s(pid), time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        server_cpu = cpu_s(pid) - server_cpu
        stats = await redis.info("commandstats")
        script = stats.get("cmdstat_evalsha", {})
        commands = sum(int(v["calls"]) for k, v in stats.items()
                       if k not in ("cmdstat_evalsha", "cmdstat_config|resetstat"))
        print(f"  {script.get('usec_per_call', 0):6.2f} µs in the script per call, "
              f"{server_cpu / count * 1e6:6.1f} µs redis-server CPU per call, "
              f"{cpu / count * 1e6:6.1f} µs client CPU per call, "
              f"{commands / count:4.1f} Redis commands inside per call, "
              f"{count / wall:,.0f} calls/s")
        return float(script.get("usec_per_call", 0)), server_cpu / count * 1e6, \
            cpu / count * 1e6, commands / count

    print(f"{args.phase} ({args.tree}), {args.calls} calls x {args.rounds} rounds, "
          f"{args.concurrency} in flight, load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    await one_round(min(2000, args.calls))  # warm: the script cache, the pool
    rounds = [await one_round(args.calls) for _ in range(args.rounds)]
    script, server, client, _ = (statistics.median(c) for c in zip(*rounds, strict=True))
    print(f"median: {script:.2f} µs in the script, {server:.1f} µs redis-server CPU, "
          f"{client:.1f} µs client CPU per call")
    await redis.aclose()


if __name__ == "__main__":
    main()
