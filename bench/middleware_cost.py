"""The API's per-request middleware on the hot order route: CPU per request of each layer.

    .venv/bin/python bench/middleware_cost.py [--requests 20000] [--rounds 5] [--log-level WARNING]

Builds the app as `create_app` does (embedded settings: no server is touched) with the hot
route's handler replaced by one that answers the sold-out flood's 409 at once, then calls the
ASGI app in-process with the request `bench/wrk_orders.lua` sends, the whole stack and the
stack without each middleware in turn, alternating, `--rounds` times. Prints the median µs per
request of each and what each layer adds. It measures our middleware and Starlette's, not
uvicorn's HTTP parsing (about the same per request whatever the stack) or the handler.
Logging is configured as the API configures it, at `--log-level` (WARNING, as
`bench/flash_sale.py` runs the API: no access log line; INFO writes one per request, to
stderr: redirect it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import commerce.app as app_module
from commerce.hot_routes import HotRequest, HotResponse
from shared.logging import configure_logging
from shared.settings import CommerceSettings

BODY = (b'{"items":[{"product_id":1,"quantity":1}],"shipping_address":{"name":"Bench Buyer",'
        b'"phone":"0912345678","line1":"1 Bench Road","city":"Taipei","postal_code":"110",'
        b'"country":"TW"}}')
ANSWER = (b'{"error":{"code":"out_of_stock","message":"product 1 has 0 left",'
          b'"details":{"product_id":1,"available":0}}}')


async def sold_out(request: HotRequest) -> HotResponse:
    return HotResponse(409, ANSWER)


def scope(app: Any) -> dict[str, Any]:
    return {
        "app": app,
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/v1/orders", "raw_path": b"/api/v1/orders",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"authorization", b"Bearer " + b"x" * 560),
            (b"idempotency-key", b"bench-0123abcd-0-1-12345"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ],
        "state": {},
    }


async def per_request_us(variant: tuple[Any, Any], requests: int) -> float:
    owner, app = variant
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.process_time()
    for _ in range(requests):
        await app(scope(owner), receive, send)
    elapsed = time.process_time() - started
    assert set(statuses) == {409}, set(statuses)
    return elapsed / requests * 1e6


def build(without: str | None) -> Any:
    app_module.place_order_hot = sold_out  # type: ignore[assignment]
    app = app_module.create_app(CommerceSettings(app_env="development"))
    if without is not None:
        app.user_middleware = [m for m in app.user_middleware if m.cls.__name__ != without]
    return app, app.build_middleware_stack()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    configure_logging(level=args.log_level, json=True, service="commerce")
    full = build(None)
    names = [m.cls.__name__ for m in app_module.create_app(
        CommerceSettings(app_env="development")).user_middleware]
    variants = {"whole stack": full,
                **{f"without {n}": build(n) for n in names if n != "HotRoutesMiddleware"}}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, app in variants.items():
            times[name].append(await per_request_us(app, args.requests))
    whole = statistics.median(times["whole stack"])
    print(f"{args.requests} requests x {args.rounds} rounds, CPU µs per request (median):")
    for name, values in times.items():
        median = statistics.median(values)
        extra = "" if name == "whole stack" else f"   (the layer: {whole - median:+.1f} µs)"
        print(f"  {name:45s} {median:7.1f}{extra}")


if __name__ == "__main__":
    asyncio.run(main())
