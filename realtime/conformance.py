"""`python -m realtime.conformance [--port 3000]`: the gateway's transport as the official
Socket.IO and Engine.IO protocol test suites expect to find it.

It builds the Socket.IO server exactly as the gateway does (`make_server`, `transport_options`,
`web_app` of realtime/app.py: same classes, JSON, CORS, WebSocket and fan-out code), with the
timings the suites' reference configuration names (pingInterval 300 ms, pingTimeout 200 ms,
maxPayload 1,000,000, connectTimeout 1 s, CORS `*`), and registers the suites' handlers instead
of the live-commerce namespace:

- Socket.IO at `/socket.io/`: `/` and `/custom` emit `auth` with the handshake's auth payload on
  connect; on `/`, `message` is echoed as `message-back` and `message-with-ack` is acknowledged
  with its own arguments;
- Engine.IO at `/engine.io/`: an `EngineServer` with the same transport options that echoes every
  message.

tests/realtime/conformance/ runs our own conformance tests against it and against the Node
reference (tests/js/conformance-reference.mjs); docs/realtime.md has the official suites' scores.
"""

from __future__ import annotations

import argparse
from typing import Any

from aiohttp import web

from realtime.app import make_server, transport_options, web_app
from realtime.protocol import EngineServer, SocketServer
from realtime.protocol.accept import run_app
from shared.settings import GatewaySettings

# The reference configuration of both suites (their README's "Test suite" sections).
SUITE_SETTINGS: dict[str, Any] = {
    "ping_interval_s": 0.3,
    "ping_timeout_s": 0.2,
    "socket_max_payload_bytes": 1_000_000,
    "connect_timeout_s": 1.0,
    "cors_origins": ["*"],
    "redis_url": None,
}


def suite_settings(**overrides: Any) -> GatewaySettings:
    return GatewaySettings(**{**SUITE_SETTINGS, **overrides})


def register_suite_handlers(sio: SocketServer) -> None:
    async def auth_back(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        namespace = next(ns for ns in ("/", "/custom") if sio.manager.is_pre_connected(sid, ns))
        await sio.emit("auth", auth or {}, to=sid, namespace=namespace)

    sio.on("connect", auth_back, namespace="/")
    sio.on("connect", auth_back, namespace="/custom")

    async def message(sid: str, *args: Any) -> None:
        await sio.emit("message-back", args, to=sid)

    async def message_with_ack(sid: str, *args: Any) -> tuple[Any, ...]:
        return args

    sio.on("message", message)
    sio.on("message-with-ack", message_with_ack)


def create_conformance_app(settings: GatewaySettings) -> web.Application:
    sio = make_server(settings)
    register_suite_handlers(sio)
    app = web_app(settings)
    sio.attach(app, socketio_path="socket.io")

    eio = EngineServer(**transport_options(settings))

    async def echo(sid: str, data: Any) -> None:
        await eio.send(sid, data)

    eio.on("message", echo)
    eio.attach(app, engineio_path="engine.io")
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m realtime.conformance", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)
    run_app(
        create_conformance_app(suite_settings()),
        host=args.host,
        port=args.port,
        ready=lambda: print("listening", flush=True),
    )


if __name__ == "__main__":
    main()
