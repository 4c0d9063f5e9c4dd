"""`python -m realtime [--host H] [--port P] [--node-id ID]`: one gateway node.

Run several against one Redis (`REDIS_URL`) on different ports to scale out.
"""

from __future__ import annotations

import argparse
import asyncio

import uvloop

from realtime.app import create_app
from realtime.gctuning import tune_gc
from realtime.protocol.accept import run_app
from shared.cli import check_redis, run_or_die
from shared.logging import configure_logging
from shared.observability import init_sentry
from shared.settings import GatewaySettings, load


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m realtime", description=__doc__)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--node-id")
    args = parser.parse_args(argv)
    overrides = {
        k: v
        for k, v in (("host", args.host), ("port", args.port), ("node_id", args.node_id))
        if v is not None
    }
    settings = run_or_die(lambda: load(GatewaySettings, **overrides))
    configure_logging(level=settings.log_level, json=settings.log_json, service="realtime")
    init_sentry(settings, service="realtime")
    run_or_die(lambda: asyncio.run(check_redis(settings.redis_url)))
    uvloop.install()
    tune_gc(settings.gc_thresholds)
    run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        backlog=settings.listen_backlog,
        shutdown_timeout=5,
    )


if __name__ == "__main__":
    main()
