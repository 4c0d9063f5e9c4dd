"""CPU per `POST /api/v1/orders` answer of the whole API stack, in-process, on real MariaDB and
Redis: the flash sale's per-answer cost without a load generator, HTTP parsing or a scheduler
in the way, so a loaded machine still gives comparable numbers.

    .venv/bin/python bench/checkout_cost.py [--phase b0|c] [--requests 4000] [--rounds 3]
        [--concurrency 20] [--redis-url redis://127.0.0.1:6379/15] [--profile]

    # another checkout of the tree (e.g. session 4's end) with its own venv, this same file:
    (cd /work/wt/base && .venv/bin/python /work/wt/flash/bench/checkout_cost.py --tree .)

Builds the app as `python -m commerce` does (settings from the environment as
`bench/flash_sale.py` sets them, logging at WARNING, `preflight`, the lifespan), on a database
of its own (created, migrated, dropped), then calls the ASGI app directly with the request
`bench/wrk_orders.lua` sends (a buyer's token, a fresh Idempotency-Key), `--concurrency`
requests in flight, `--requests` per round. Prints per round the process's CPU per answer
(`time.process_time`: this process's own work, whatever else the machine runs) and the
statuses. `b0`: a product with no units (every answer the gate's 409); `c`: enough units that
every request is an order (the database's own CPU is not counted here: see `--sql`).
`--sql`: count the SQL statements the API sent per answer (SQLAlchemy's
`before_cursor_execute` on the app's engine; BEGIN and COMMIT are not statements there).
`--profile`: one more round under cProfile; prints the calls per answer (deterministic, a
load-independent measure of the work) and the functions with the most own time.
`--server-pid PID`: the MariaDB server behind `--mysql-url` is this run's alone (a private
`mariadbd`, as `tests/helpers/private_servers.py` starts one): per round, its CPU per answer
(/proc) and what it was sent per answer from its own counters (`Questions`: every statement,
COMMIT and ROLLBACK included, pings not; `Com_commit`, `Com_rollback`), and the storage
engine's `Handler_*` calls (index lookups, index steps, rows written, the temporary tables'
rows): set by the work sent, not by the machine's load (the group sizes aside), so two trees'
statements compare by weight.

The outbox relay, the notification consumer and the periodic tasks are off (their CPU is per
second, not per answer; `bench/flash_sale.py` measures them); `--relay` turns the relay on.
The Redis DB given is FLUSHED.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ADDRESS = (b'"shipping_address":{"name":"Bench Buyer","phone":"0912345678","line1":"1 Bench Road",'
           b'"city":"Taipei","postal_code":"110","country":"TW"}')


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", default=str(Path(__file__).resolve().parent.parent),
                        help="the checkout whose code is measured (default: this file's)")
    parser.add_argument("--mysql-url", default="mysql+aiomysql://root@127.0.0.1:3306")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--phase", choices=("b0", "c"), default="b0")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--buyers", type=int, default=500)
    parser.add_argument("--relay", action="store_true")
    parser.add_argument("--sql", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--server-pid", type=int, metavar="PID",
                        help="the private MariaDB server's pid: its CPU and counters per answer")
    parser.add_argument("--profile-out", metavar="PATH",
                        help="with --profile: also save the pstats there (compare two trees)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra setting for the API (repeatable)")
    return parser.parse_args()


def main() -> None:
    args = parse()
    sys.path.insert(0, str(Path(args.tree).resolve()))
    os.chdir(args.tree)
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(run(args))


async def run(args: argparse.Namespace) -> None:
    import pymysql
    import redis
    from alembic import command
    from sqlalchemy.engine import make_url

    from commerce.app import create_app
    from commerce.preflight import alembic_config, preflight
    from shared.logging import configure_logging
    from shared.settings import CommerceSettings
    from shared.tokens import TokenIssuer, generate_key_pair

    server = make_url(args.mysql_url)
    name = f"lc_bench_{uuid.uuid4().hex[:10]}"
    auth = server.username or "root"
    db_url = f"mysql+aiomysql://{auth}@{server.host}:{server.port or 3306}/{name}"

    def connect(database: str | None = None) -> Any:
        return pymysql.connect(host=server.host, port=server.port or 3306, user=auth,
                               password=server.password or "", database=database,
                               autocommit=True, charset="utf8mb4")

    with connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        cfg = alembic_config(db_url)
        cfg.attributes["skip_logging"] = True
        await asyncio.to_thread(command.upgrade, cfg, "head")  # it runs a loop of its own
        with connect(name) as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO users (email, display_name, role, locale, market, email_verified,"
                " is_active, created_at, updated_at) VALUES ('s@bench.test', 'Seller', 'seller',"
                " 'en', 'TW', 1, 1, NOW(6), NOW(6))")
            seller = cur.lastrowid
            cur.executemany(
                "INSERT INTO users (email, display_name, role, locale, market, email_verified,"
                " is_active, created_at, updated_at) VALUES (%s, %s, 'buyer', 'en', 'TW', 1, 1,"
                " NOW(6), NOW(6))",
                [(f"b{i}@bench.test", f"Buyer {i}") for i in range(args.buyers)])
            cur.execute("SELECT id FROM users WHERE role = 'buyer' ORDER BY id")
            buyers = [int(r[0]) for r in cur.fetchall()]
            cur.execute(
                "INSERT INTO products (seller_id, name, description, price_minor, currency, stock,"
                " attributes, images, is_deleted, created_at, updated_at) VALUES"
                " (%s, 'Hot item', '', 19900, 'TWD', %s, '{}', '[]', 0, NOW(6), NOW(6))",
                (seller, 0 if args.phase == "b0" else 10**9))
            product = int(cur.lastrowid)
        redis.Redis.from_url(args.redis_url).flushdb()
        keys = generate_key_pair()
        os.environ.update({
            "APP_ENV": "test", "DATABASE_URL": db_url, "REDIS_URL": args.redis_url,
            "JWT_PRIVATE_KEY": keys[0], "JWT_PUBLIC_KEY": keys[1], "LOG_LEVEL": "WARNING",
            "DATABASE_POOL_SIZE": "20", "DATABASE_MAX_OVERFLOW": "0",
            "EVENTS_STREAM": f"bench-events-{name}",
            "OUTBOX_RELAY_ENABLED": "true" if args.relay else "false",
            "NOTIFICATIONS_CONSUMER_ENABLED": "false",
            # As bench/flash_sale.py: counted, never refused (unknown names are ignored by
            # the older trees' settings).
            "RATE_LIMIT_ORDERS_PER_USER": "100000000/minute",
            "RATE_LIMIT_ORDERS_PER_IP": "100000000/minute",
            "MAX_UNPAID_ORDERS_PER_BUYER": "1000000000",
        })
        os.environ.update(dict(e.split("=", 1) for e in args.env))
        settings = CommerceSettings()
        configure_logging(level="WARNING", json=True, service="commerce")
        await preflight(settings)
        issuer = TokenIssuer(keys[0], keys[1], issuer="livecommerce", audience="livecommerce",
                             ttl_s=3600)
        tokens = [issuer.issue_access(user_id=u, role="buyer", name=f"Buyer {u}")[0].encode()
                  for u in buyers]
        app = create_app(settings)
        body = (b'{"items":[{"product_id":%d,"quantity":1}],' % product) + ADDRESS + b"}"
        server_stats = None
        if args.server_pid:
            def server_stats() -> dict[str, float]:
                with connect() as conn, conn.cursor() as cur:
                    cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN"
                                " ('Questions', 'Com_commit', 'Com_rollback')"
                                " OR Variable_name LIKE 'Handler\\_%'")
                    found = {str(k): float(v) for k, v in cur.fetchall()}
                stat = Path(f"/proc/{args.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
                found["cpu_s"] = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
                return found
        async with app.router.lifespan_context(app):
            await measure(args, app, tokens, body, server_stats)
    finally:
        with connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


async def measure(args: argparse.Namespace, app: Any, tokens: list[bytes], body: bytes,
                  server_stats: Any = None) -> None:
    tag = uuid.uuid4().hex[:8]
    sent = 0
    statuses: Counter[int] = Counter()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] += 1

    def scope(n: int) -> dict[str, Any]:
        return {
            "app": app, "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/api/v1/orders",
            "raw_path": b"/api/v1/orders", "query_string": b"", "root_path": "",
            "client": ("127.0.0.1", 40000 + n % 20000), "server": ("127.0.0.1", 8000),
            "headers": [
                (b"host", b"127.0.0.1:8000"),
                (b"authorization", b"Bearer " + tokens[n % len(tokens)]),
                (b"idempotency-key", f"bench-{tag}-{n}".encode()),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "state": {},
        }

    async def one_round(count: int) -> tuple[float, float]:
        nonlocal sent
        end = sent + count

        async def worker() -> None:
            nonlocal sent
            while sent < end:
                n = sent
                sent += 1
                await app(scope(n), receive, send)

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        return time.process_time() - cpu, time.perf_counter() - wall

    await one_round(min(500, args.requests))  # warm: pools, caches, the gate's keys
    statuses.clear()
    per_answer: list[float] = []
    sql = Counter[str]()
    if args.sql:
        from sqlalchemy import event

        def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
            sql[" ".join(statement.split()[:2])[:40]] += 1

        event.listen(app.state.ctx.engine.sync_engine, "before_cursor_execute", count)
    for round_no in range(1, args.rounds + 1):
        before = await asyncio.to_thread(server_stats) if server_stats else {}
        cpu, wall = await one_round(args.requests)
        per_answer.append(cpu / args.requests * 1e6)
        print(f"round {round_no}: {cpu / args.requests * 1e6:7.1f} µs CPU per answer "
              f"({args.requests / wall:,.0f} answers/s wall, {args.concurrency} in flight)")
        if server_stats:
            after = await asyncio.to_thread(server_stats)
            per = {k: (after[k] - before[k]) / args.requests for k in after}
            print(f"    MariaDB (private): {per['cpu_s'] * 1e6:.0f} µs CPU per answer; per "
                  f"answer {per['Questions']:.2f} statements (COMMIT {per['Com_commit']:.2f}, "
                  f"ROLLBACK {per['Com_rollback']:.2f})")
            # The storage engine's work per answer (index lookups, rows read and written):
            # what each statement costs MariaDB, whatever the machine's load.
            print("    per answer: " + ", ".join(
                f"{k} {v:.2f}" for k, v in sorted(per.items())
                if k.startswith("Handler_") and v >= 0.005))
    import commerce

    tree = Path(commerce.__file__).parent.parent
    print(f"{args.phase} ({tree}): median {statistics.median(per_answer):.1f} µs CPU per answer "
          f"over {args.rounds} rounds; statuses {dict(statuses)}; load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.sql:
        done = args.requests * args.rounds
        print(f"SQL statements per answer: {sum(sql.values()) / done:.2f}")
        for kind, n in sql.most_common():
            print(f"  {n / done:6.3f}  {kind}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        await one_round(args.requests)
        profiler.disable()
        stats = pstats.Stats(profiler)
        if args.profile_out:
            stats.dump_stats(args.profile_out)
        calls = sum(v[1] for v in stats.stats.values())  # type: ignore[attr-defined]
        print(f"cProfile: {calls / args.requests:.0f} function calls per answer "
              f"(primitive + recursive)")
        stats.sort_stats("tottime").print_stats(35)


if __name__ == "__main__":
    main()
