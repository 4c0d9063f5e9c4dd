"""The default namespace: thin `on_<event>` handlers over the room services.

Each handler parses its payload, checks who may do it, calls one service and answers an ack.
Nothing a client sends can crash a handler: `guarded` turns validation failures and domain errors
into `{ok: false, error}` acks and logs anything unexpected.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
import structlog
from pydantic import ValidationError

from realtime.acks import fail, from_error
from realtime.auth import authenticate
from realtime.context import GatewayContext
from realtime.metrics import CONNECTED, EVENTS_IN
from realtime.rooms import user_room
from shared.errors import AppError, ErrorCode, Unauthorized
from shared.tokens import Principal

log = structlog.get_logger(__name__)

Ack = dict[str, Any]
EventHandler = Callable[[Any, str, Any], Awaitable[Ack]]


def guarded(name: str) -> Callable[[EventHandler], EventHandler]:
    """Turn any failure of a client-event handler into an error ack."""

    def wrap(fn: EventHandler) -> EventHandler:
        @functools.wraps(fn)
        async def inner(self: Any, sid: str, data: Any = None) -> Ack:
            try:
                result = await fn(self, sid, data)
            except ValidationError as exc:
                errors = exc.errors()
                where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
                message = errors[0]["msg"] if errors else "invalid"
                result = fail(ErrorCode.INVALID, f"{where or 'payload'}: {message}")
            except AppError as exc:
                result = from_error(exc)
            except Exception:
                log.exception("handler_failed", event=name)
                result = fail(ErrorCode.INTERNAL, "internal error")
            EVENTS_IN.labels(name, "ok" if result.get("ok") else result["error"]["code"]).inc()
            return result

        return inner

    return wrap


class Session:
    """Per-socket state kept in this node's memory (the socket lives here)."""

    __slots__ = ("principal", "rooms")

    def __init__(self, principal: Principal | None) -> None:
        self.principal = principal
        self.rooms: set[int] = set()


class LiveNamespace(socketio.AsyncNamespace):
    def __init__(self, ctx: GatewayContext, namespace: str = "/") -> None:
        super().__init__(namespace)
        self.ctx = ctx
        self.sessions: dict[str, Session] = {}

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            principal = await authenticate(
                auth, verifier=self.ctx.verifier, redis=self.ctx.redis
            )
        except Unauthorized as exc:
            raise ConnectRefused(exc.message) from None
        self.sessions[sid] = Session(principal)
        if principal is not None:
            await self.enter_room(sid, user_room(principal.user_id))
        CONNECTED.inc()

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        if self.sessions.pop(sid, None) is not None:
            CONNECTED.dec()

    def session(self, sid: str) -> Session:
        s = self.sessions.get(sid)
        if s is None:
            raise Unauthorized("not connected")
        return s


class ConnectRefused(socketio.exceptions.ConnectionRefusedError):
    """`connect_error` payload `{message, code, data: {code, message}}`.

    The Python client hands the dict over as is (so `code` is at the top); the JavaScript client
    builds an Error from `message` and exposes the rest as `err.data`.
    """

    def __init__(self, message: str, code: str = ErrorCode.UNAUTHORIZED) -> None:
        super().__init__(message)
        self.error_args = {
            "message": message,
            "code": str(code),
            "data": {"code": str(code), "message": message},
        }
