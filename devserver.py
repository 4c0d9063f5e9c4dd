"""`python devserver.py` (what `make run` starts): the whole platform in one process.

The embedded default: commerce on :8000 and one gateway node on :8001 share one event loop, so
they share the in-process event bus and the in-process Redis stand-in; SQLite is migrated to head
first; Celery tasks run in-process (eager) and the beat schedule runs as asyncio timers. With
`REDIS_URL`, `DATABASE_URL` or `CELERY_BROKER_URL` set, the same code uses those servers instead.
Ctrl-C (SIGINT) or SIGTERM stops both servers cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import uvicorn
import uvloop

from commerce.app import create_app as create_commerce
from commerce.preflight import alembic_config, preflight
from commerce.server import server_config
from realtime.app import create_app as create_gateway
from realtime.protocol.accept import GatewayRunner, GatewaySite
from shared.cli import run_or_die
from shared.logging import configure_logging
from shared.observability import init_sentry
from shared.settings import CommerceSettings, GatewaySettings, load
from shared.tasks import cancel_and_wait


def migrate(settings: CommerceSettings) -> None:
    from alembic import command

    if settings.is_sqlite:
        cfg = alembic_config(settings.database_url)
        cfg.attributes["skip_logging"] = True
        command.upgrade(cfg, "head")


async def serve(commerce: CommerceSettings, gateway: GatewaySettings) -> None:
    await preflight(commerce)
    api = uvicorn.Server(server_config(create_commerce(commerce), commerce))
    api.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    runner = GatewayRunner(create_gateway(gateway), access_log=None)
    await runner.setup()
    site = GatewaySite(runner, gateway.host, gateway.port, backlog=gateway.listen_backlog)
    await site.start()
    from commerce.worker import run_embedded_beat

    beat = asyncio.create_task(run_embedded_beat(commerce), name="embedded-beat")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    api_task = asyncio.create_task(api.serve(), name="commerce")
    print(
        f"live-commerce running: http://{commerce.host}:{commerce.port}/ "
        f"(API /api/v1, docs /docs), gateway http://{gateway.host}:{gateway.port}/socket.io/ "
        "- Ctrl-C to stop",
        flush=True,
    )
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({api_task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    api.should_exit = True
    await cancel_and_wait(beat)
    await api_task
    await runner.cleanup()
    waiter.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--gateway-port", type=int, default=8001)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    # The pages (served by the API) reach the gateway on its own port of the same host.
    commerce = run_or_die(
        lambda: load(
            CommerceSettings,
            host=args.host,
            port=args.api_port,
            web_gateway_port=args.gateway_port,
        )
    )
    gateway = run_or_die(lambda: load(GatewaySettings, host=args.host, port=args.gateway_port))
    configure_logging(level=commerce.log_level, json=commerce.log_json, service="embedded")
    init_sentry(commerce, service="embedded")
    migrate(commerce)
    uvloop.install()
    run_or_die(lambda: asyncio.run(serve(commerce, gateway)))


if __name__ == "__main__":
    main()
