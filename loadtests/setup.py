"""Fixture for a load test: a seller, a lineup of products, a stream and pre-registered users.

Everything is created through the public REST API (`/api/v1`), exactly as clients would, so
the same script works against `make run`, the local cluster behind nginx, or a staging
deployment. The result is written to a JSON file that `locustfile.py` reads (path in
`LOADTEST_FIXTURE`, default `var/loadtest-fixture.json`):

    {"api": ..., "stream_id": ..., "product_ids": [...],
     "host": {"user_id", "access_token"}, "users": [{"user_id", "access_token"}, ...]}

Users are pre-registered rather than registered by Locust users at spawn time because
registration hashes a password (argon2/bcrypt is deliberately slow) and would dominate the
measurement. Access tokens live 15 minutes by default: re-run the setup for longer tests.

    python -m loadtests.setup --base-url http://127.0.0.1:8080 --users 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import httpx

DEFAULT_FIXTURE = Path("var/loadtest-fixture.json")
PASSWORD = "Load-test-Passw0rd!"  # throwaway accounts of a load test


async def _register(
    http: httpx.AsyncClient, *, run: str, n: int, role: str = "buyer"
) -> dict[str, Any]:
    resp = await http.post(
        "/api/v1/auth/register",
        json={
            "email": f"lt-{run}-{role}-{n}@loadtest.invalid",
            "password": PASSWORD,
            "display_name": f"{role} {n}",
            "role": role,
            "market": "TW",
        },
    )
    resp.raise_for_status()
    body = resp.json()
    return {"user_id": body["user"]["id"], "access_token": body["access_token"]}


async def create_fixture(
    base_url: str,
    *,
    users: int = 20,
    products: int = 5,
    stock: int = 1_000_000,
    concurrency: int = 10,
) -> dict[str, Any]:
    """Create the seller, products, stream and users; return the fixture dictionary."""
    run = secrets.token_hex(4)  # unique emails: the setup can run again on the same database
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        host = await _register(http, run=run, n=0, role="seller")
        auth = {"Authorization": f"Bearer {host['access_token']}"}
        product_ids: list[int] = []
        for i in range(products):
            resp = await http.post(
                "/api/v1/products",
                headers=auth,
                json={
                    "name": f"Load test item {i}",
                    "description": "created by loadtests/setup.py",
                    "price": f"{199 + i * 10}.00",
                    "currency": "TWD",
                    "stock": stock,
                },
            )
            resp.raise_for_status()
            product_ids.append(resp.json()["id"])
        resp = await http.post(
            "/api/v1/streams",
            headers=auth,
            json={"title": f"Load test {run}", "product_ids": product_ids},
        )
        resp.raise_for_status()
        stream_id = resp.json()["id"]

        gate = asyncio.Semaphore(concurrency)

        async def one(n: int) -> dict[str, Any]:
            async with gate:
                return await _register(http, run=run, n=n)

        buyers = await asyncio.gather(*(one(n) for n in range(1, users + 1)))
    return {
        "api": base_url,
        "stream_id": stream_id,
        "product_ids": product_ids,
        "host": host,
        "users": list(buyers),
    }


def write_fixture(fixture: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fixture, indent=1))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--base-url", default=os.environ.get("LOADTEST_BASE_URL", "http://127.0.0.1:8000")
    )
    parser.add_argument("--users", type=int, default=int(os.environ.get("LOADTEST_USERS", "50")))
    parser.add_argument(
        "--products", type=int, default=int(os.environ.get("LOADTEST_PRODUCTS", "5"))
    )
    parser.add_argument(
        "--stock", type=int, default=int(os.environ.get("LOADTEST_STOCK", "1000000"))
    )
    parser.add_argument(
        "--out", type=Path, default=Path(os.environ.get("LOADTEST_FIXTURE", DEFAULT_FIXTURE))
    )
    args = parser.parse_args(argv)
    try:
        fixture = asyncio.run(
            create_fixture(
                args.base_url, users=args.users, products=args.products, stock=args.stock
            )
        )
    except httpx.HTTPError as exc:
        detail = exc.response.text[:300] if isinstance(exc, httpx.HTTPStatusError) else ""
        print(f"error: setup failed against {args.base_url}: {exc} {detail}", file=sys.stderr)
        return 1
    path = write_fixture(fixture, args.out)
    print(
        f"stream {fixture['stream_id']}, products {fixture['product_ids']}, "
        f"{len(fixture['users'])} users -> {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
