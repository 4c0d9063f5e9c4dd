"""`python -m commerce [--host H] [--port P]`: the commerce API on uvicorn."""

from __future__ import annotations

import argparse
import asyncio

import uvicorn

from commerce.app import create_app
from commerce.preflight import preflight
from commerce.server import server_config
from shared.cli import run_or_die
from shared.logging import configure_logging
from shared.observability import init_sentry
from shared.settings import CommerceSettings, load


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m commerce", description=__doc__)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = run_or_die(lambda: load(CommerceSettings, **overrides))
    configure_logging(level=settings.log_level, json=settings.log_json, service="commerce")
    init_sentry(settings, service="commerce")
    run_or_die(lambda: asyncio.run(preflight(settings, redis_optional=True)))
    uvicorn.Server(server_config(create_app(settings), settings)).run()


if __name__ == "__main__":
    main()
