"""Read replicas: what routing a catalog read costs the API, per request, against the primary.

    flock /tmp/lc-bench.lock .venv/bin/python bench/replica_reads.py [--requests 400]
        [--rounds 5] [--redis-url redis://127.0.0.1:6379/6]

Starts a private MariaDB primary and GTID replica (tests/helpers/private_servers.py, free
ports), migrates a database on the primary, seeds one seller with 50 products through the
API, then times GET /products/{id} and GET /products?q= (one search page) through the
in-process API (ASGI, no sockets) in three shapes, alternated round by round so a busy
machine weighs on each alike:

- `primary`: no DATABASE_REPLICA_URLS (every read on the primary, as before);
- `replica`: an anonymous caller, read from the replica (verdict cached; pool checkout pings);
- `replica+token`: a signed-in caller who has written nothing: the token is verified (cached)
  and one Redis EXISTS asks whether they wrote lately, then the replica serves.

Prints the median per-request time of each shape for each route. Both servers share this
machine with the API, so this is the routing's cost, not what a replica on its own host buys.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from shared.settings import CommerceSettings
from shared.tokens import generate_key_pair
from tests.conftest import app_client, built_ctx, migrate
from tests.helpers.private_servers import replica_pair

DB = "lc_bench"


def settings_for(
    primary: str, replica: str | None, redis_url: str, keys: tuple[str, str]
) -> CommerceSettings:
    private, public = keys
    return CommerceSettings(
        app_env="test", database_url=primary, redis_url=redis_url,
        database_replica_urls=[replica] if replica else [],
        jwt_private_key=private, jwt_public_key=public, bcrypt_rounds=4,
        notifications={"consumer_enabled": False}, outbox_relay_enabled=False,
        rate_limits={"search_per_ip": "1000000/minute"},
        _env_file=None,
    )  # type: ignore[call-arg]


async def timed(api: httpx.AsyncClient, paths: list[str], headers: dict[str, str]) -> float:
    """Median seconds of one GET over `paths` (each must answer 200)."""
    times = []
    for path in paths:
        began = time.perf_counter()
        reply = await api.get(path, headers=headers)
        times.append(time.perf_counter() - began)
        assert reply.status_code == 200, reply.text
    return statistics.median(times)


async def main(args: argparse.Namespace) -> None:
    keys = generate_key_pair()
    with tempfile.TemporaryDirectory() as tmp, replica_pair(Path(tmp)) as pair:
        pair.primary.execute(
            f"CREATE DATABASE {DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        await asyncio.to_thread(migrate, pair.primary.url(DB))  # Alembic runs its own loop
        shapes = {
            "primary": settings_for(pair.primary.url(DB), None, args.redis_url, keys),
            "replica": settings_for(pair.primary.url(DB), pair.replica.url(DB), args.redis_url,
                                    keys),
        }
        async with built_ctx(shapes["primary"]) as ctx, app_client(shapes["primary"], ctx) as api:
            reply = await api.post("/api/v1/auth/register", json={
                "email": f"seller{time.time_ns()}@bench.test", "password": "Live-sale-2026!",
                "display_name": "Bench", "role": "seller"})
            seller = {"Authorization": f"Bearer {reply.json()['access_token']}"}
            ids = []
            for n in range(50):
                made = await api.post("/api/v1/products", headers=seller, json={
                    "name": f"藍牙耳機 {n}", "price": "990.00", "currency": "TWD", "stock": 5})
                ids.append(made.json()["id"])
            reply = await api.post("/api/v1/auth/register", json={
                "email": f"buyer{time.time_ns()}@bench.test", "password": "Live-sale-2026!",
                "display_name": "Buyer"})
            buyer = {"Authorization": f"Bearer {reply.json()['access_token']}"}
        pair.sync()
        by_id = [f"/api/v1/products/{ids[i % len(ids)]}" for i in range(args.requests)]
        search = ["/api/v1/products?q=耳機"] * (args.requests // 4)
        runs = [("primary", "primary", {}), ("replica", "replica", {}),
                ("replica+token", "replica", buyer)]
        results: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for label, shape, headers in runs:
                settings = shapes[shape]
                async with built_ctx(settings) as ctx, app_client(settings, ctx) as api:
                    await timed(api, by_id[:20], headers)  # warm: pool, verdict, caches
                    for route, paths in (("GET /products/{id}", by_id),
                                         ("GET /products?q=", search)):
                        results.setdefault((label, route), []).append(
                            await timed(api, paths, headers))
        print(f"{args.requests} by-id reads and {len(search)} search pages per round, "
              f"{args.rounds} rounds; median of round medians, ms per request")
        for route in ("GET /products/{id}", "GET /products?q="):
            base = statistics.median(results[("primary", route)])
            for label, _, _ in runs:
                value = statistics.median(results[(label, route)])
                print(f"  {route:20} {label:14} {value * 1000:7.2f} ms  ({value / base:.2f}x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    asyncio.run(main(parser.parse_args()))
