"""The default namespace: thin `on_<event>` handlers over the room services.

Each handler parses its payload, checks who may do it, calls one service and answers an ack.
Nothing a client sends can crash a handler: `guarded` turns validation failures and domain errors
into `{ok: false, error}` acks and logs anything unexpected.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
import socketio
import structlog
from pydantic import ValidationError

from realtime.acks import fail, from_error, ok
from realtime.auth import authenticate
from realtime.badinput import BadInputGuard
from realtime.control import Command
from realtime.metrics import CONNECTED, EVENTS_IN
from realtime.protocol.engine import spawn
from realtime.revocations import RevocationChecks
from realtime.rooms import user_room
from realtime.schemas import (
    ChatIn,
    ModerateIn,
    PinIn,
    ReactIn,
    ResumeIn,
    StreamIn,
    has_lone_surrogate,
)
from realtime.services import Services
from realtime.throttle import EventThrottle
from shared.errors import (
    AppError,
    ErrorCode,
    InvalidInput,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from shared.outage import redis_down
from shared.tokens import Principal, TokenVerifier

log = structlog.get_logger(__name__)

Ack = dict[str, Any]
EventHandler = Callable[["LiveNamespace", str, Any], Awaitable[Ack]]
Wrapped = Callable[..., Awaitable[Ack]]


def guarded(name: str) -> Callable[[EventHandler], Wrapped]:
    """Turn any failure of a client-event handler into an error ack.

    Rate limits come first (`EventThrottle`). A client may send an event with no argument or
    several; only exactly one payload is valid, and no string in it may hold a lone surrogate.
    Invalid payloads count as bad input (`BadInputGuard`): past its limit the socket is
    disconnected, after this ack.
    """

    # The counter's child per result code, looked up once: `.labels()` on every event costs a
    # tuple, a lock and a dict lookup (a join storm calls it 10,000 times a second).
    counted: dict[str, Any] = {}

    def count(code: str) -> None:
        child = counted.get(code)
        if child is None:
            child = counted[code] = EVENTS_IN.labels(name, code)
        child.inc()

    def wrap(fn: EventHandler) -> Wrapped:
        @functools.wraps(fn)
        async def inner(self: LiveNamespace, sid: str, *args: Any) -> Ack:
            try:
                if not self.throttle.allow(sid, name):
                    raise RateLimited(f"too many {name} events")
                if len(args) != 1:
                    raise InvalidInput("expected one payload object")
                if has_lone_surrogate(args[0]):
                    raise InvalidInput("text must be valid Unicode (lone surrogate)")
                result = await fn(self, sid, args[0])
            except ValidationError as exc:
                errors = exc.errors()
                where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
                message = errors[0]["msg"] if errors else "invalid"
                result = fail(ErrorCode.INVALID, f"{where or 'payload'}: {message}")
            except AppError as exc:
                result = from_error(exc)
            except Exception as exc:
                if redis_down(exc):  # Redis is down or restarting: retry later, not a bug
                    log.warning("handler_unavailable", client_event=name,
                                error=type(exc).__name__)
                    result = fail(ErrorCode.UNAVAILABLE, "temporarily unavailable; retry")
                else:
                    # `event` is structlog's own first argument: passing it again as a keyword
                    # made this line raise, and the client got no ack at all.
                    log.exception("handler_failed", client_event=name)
                    result = fail(ErrorCode.INTERNAL, "internal error")
            code = "ok" if result.get("ok") else result["error"]["code"]
            count(code)
            if code == ErrorCode.INVALID:
                self.bad_input(sid, f"{name}: {result['error']['message']}")
            return result

        return inner

    return wrap


class Session:
    """Per-socket state kept in this node's memory (the socket lives here)."""

    __slots__ = ("principal", "rooms")

    def __init__(self, principal: Principal | None) -> None:
        self.principal = principal
        self.rooms: set[int] = set()


CLIENT_EVENTS = frozenset(
    {"join", "leave", "chat", "react", "pin", "unpin", "moderate", "resume"}
)


class LiveNamespace(socketio.AsyncNamespace):  # type: ignore[misc]  # untyped library base
    def __init__(
        self,
        *,
        sio: socketio.AsyncServer,
        redis: aioredis.Redis,
        verifier: TokenVerifier,
        services: Services,
        throttle: EventThrottle,
        bad_input: BadInputGuard,
        revocations: RevocationChecks | None = None,
        namespace: str = "/",
    ) -> None:
        super().__init__(namespace)
        self.sio = sio
        self.redis = redis
        self.verifier = verifier
        self.revocations = revocations
        self.throttle = throttle
        self.bad_input_guard = bad_input
        self.services = services
        self.sessions: dict[str, Session] = {}
        self.user_sids: dict[int, set[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        services.control.handler = self.on_control

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Known events go to their handler; anything else gets an `invalid` ack.

        `connect` and `disconnect` come only from the server itself: realtime/protocol closes a
        connection whose client sends an event under a reserved name.

        The handler is awaited directly, as python-socketio's `trigger_event` (its documented
        override point) would, but without its `hasattr` and `inspect.iscoroutinefunction` per
        event: every `on_<event>` here is a coroutine function taking the library's arguments.
        """
        if event in CLIENT_EVENTS or event in ("connect", "disconnect"):
            try:
                return await getattr(self, "on_" + event)(*args)
            except asyncio.CancelledError:
                return None  # as the library's dispatch answers a cancelled handler
        EVENTS_IN.labels("unknown", ErrorCode.INVALID).inc()
        if args:
            self.bad_input(args[0], "unknown event")
        return fail(ErrorCode.INVALID, "unknown event")

    def bad_input(self, sid: str, detail: str) -> None:
        """Count an invalid event of this socket; close its connection once past the limit."""
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, self.namespace)
        if eio_sid is None:
            return
        if self.bad_input_guard.report(eio_sid, "invalid", detail):
            # The whole connection, not only this namespace: a hostile client would ignore a
            # namespace DISCONNECT packet and go on sending.
            spawn(self._tasks, self.sio.eio.disconnect(eio_sid))

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            principal = await authenticate(
                auth, verifier=self.verifier, redis=self.redis, revocations=self.revocations
            )
        except Unauthorized as exc:
            raise ConnectRefused(exc.message) from None
        except Unavailable as exc:  # revocations not restored yet: closed, and retryable
            raise ConnectRefused(exc.message, ErrorCode.UNAVAILABLE) from None
        self.sessions[sid] = Session(principal)
        if principal is not None:
            self.user_sids.setdefault(principal.user_id, set()).add(sid)
            await self.enter_room(sid, user_room(principal.user_id))
        CONNECTED.inc()

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.throttle.forget(sid)
        session = self.sessions.pop(sid, None)
        if session is None:
            return
        CONNECTED.dec()
        if session.principal is not None:
            sids = self.user_sids.get(session.principal.user_id)
            if sids is not None:
                sids.discard(sid)
                if not sids:
                    del self.user_sids[session.principal.user_id]
        self.services.membership.leave_all(sid=sid, member=session)

    def session(self, sid: str) -> Session:
        s = self.sessions.get(sid)
        if s is None:
            raise Unauthorized("not connected")
        return s

    # --- client events: parse -> service -> ack ---------------------------------------------

    @guarded("join")
    async def on_join(self, sid: str, data: Any) -> Ack:
        req = StreamIn.model_validate(data)
        state = await self.services.membership.join(
            sid=sid, member=self.session(sid), stream_id=req.stream_id
        )
        return ok(**state)

    @guarded("leave")
    async def on_leave(self, sid: str, data: Any) -> Ack:
        req = StreamIn.model_validate(data)
        await self.services.membership.leave(
            sid=sid, member=self.session(sid), stream_id=req.stream_id
        )
        return ok()

    @guarded("chat")
    async def on_chat(self, sid: str, data: Any) -> Ack:
        req = ChatIn.model_validate(data)
        session = self.session(sid)
        message = await self.services.chat.send(
            principal=session.principal,
            joined=req.stream_id in session.rooms,
            stream_id=req.stream_id,
            text=req.text,
        )
        return ok(id=message["id"], seq=message["seq"])

    @guarded("react")
    async def on_react(self, sid: str, data: Any) -> Ack:
        req = ReactIn.model_validate(data)
        await self.services.reactions.react(
            sid=sid,
            joined=req.stream_id in self.session(sid).rooms,
            stream_id=req.stream_id,
            kind=req.kind,
        )
        return ok()

    @guarded("pin")
    async def on_pin(self, sid: str, data: Any) -> Ack:
        req = PinIn.model_validate(data)
        await self.services.pins.pin(
            principal=self.session(sid).principal,
            stream_id=req.stream_id,
            product_id=req.product_id,
            flash_seconds=req.flash_seconds,
        )
        return ok()

    @guarded("unpin")
    async def on_unpin(self, sid: str, data: Any) -> Ack:
        req = StreamIn.model_validate(data)
        await self.services.pins.unpin(
            principal=self.session(sid).principal, stream_id=req.stream_id
        )
        return ok()

    @guarded("moderate")
    async def on_moderate(self, sid: str, data: Any) -> Ack:
        req = ModerateIn.model_validate(data)
        await self.services.moderation.moderate(
            principal=self.session(sid).principal, command=req
        )
        return ok()

    @guarded("resume")
    async def on_resume(self, sid: str, data: Any) -> Ack:
        req = ResumeIn.model_validate(data)
        answer = await self.services.membership.resume(
            member=self.session(sid), stream_id=req.stream_id, since_seq=req.since_seq,
            epoch=req.epoch,
        )
        return ok(**answer)

    # --- node-to-node commands (control.py) --------------------------------------------------

    async def on_control(self, command: Command) -> None:
        """Apply a kick or revoke to this node's sockets of the user."""
        for sid in list(self.user_sids.get(command.user_id, ())):
            session = self.sessions.get(sid)
            if session is None or session.principal is None:
                continue
            if command.op == "kick" and command.stream_id is not None:
                await self.services.membership.leave(
                    sid=sid, member=session, stream_id=command.stream_id
                )
            elif command.op == "revoke" and _revokes(command, session.principal):
                await self.sio.disconnect(sid, namespace=self.namespace, ignore_queue=True)


def _revokes(command: Command, principal: Principal) -> bool:
    if command.jti is None and command.family is None:
        return True  # every session of the user
    return command.jti == principal.jti or (
        command.family is not None and command.family == principal.family
    )


class ConnectRefused(socketio.exceptions.ConnectionRefusedError):  # type: ignore[misc]  # untyped library base
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
