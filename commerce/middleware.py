"""Pure-ASGI middleware: request id + access log + metrics, and a request body size limit.

Pure ASGI (not BaseHTTPMiddleware) so streaming bodies are not buffered and each request costs
one extra function call, not a task. Every request of a flash sale's flood passes through
these, so they do per request only what they must (`bench/middleware_cost.py` measures each
layer): the request id from `os.urandom` (not a `uuid4` object), and the metric children kept
per label set instead of looked up through `labels()` (a lock and a tuple) twice a request.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

import orjson
import structlog
from starlette.middleware.cors import CORSMiddleware as StarletteCORS
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commerce.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = structlog.get_logger("commerce.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._requests: dict[tuple[str, str, str], Any] = {}  # label set -> counter child
        self._latency: dict[tuple[str, str], Any] = {}  # label set -> histogram child

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                incoming = value.decode("latin-1")  # the last one wins, as a dict of them did
        request_id = incoming if _REQUEST_ID.match(incoming) else os.urandom(16).hex()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            key = (method, template, str(status))
            if (requests := self._requests.get(key)) is None:
                requests = self._requests[key] = HTTP_REQUESTS.labels(*key)
            requests.inc()
            if (latency := self._latency.get(key[:2])) is None:
                latency = self._latency[key[:2]] = HTTP_LATENCY.labels(method, template)
            latency.observe(elapsed)
            if template not in ("/healthz", "/metrics", "/readyz"):
                log.info(
                    "request", method=method, path=scope["path"], status=status,
                    ms=round(elapsed * 1000, 2),
                    client=(scope.get("client") or ("-",))[0],
                )
            structlog.contextvars.unbind_contextvars("request_id")


class BodySizeLimitMiddleware:
    """413 for bodies over the limit, by Content-Length or while streaming.

    One default (`max_bytes`) and per-path-prefix limits (`by_prefix`, first match wins): the
    local upload route takes what the upload ticket advertises (`MEDIA_MAX_UPLOAD_BYTES`), and
    anonymous webhooks take much less than the default.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, by_prefix: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.by_prefix = tuple((by_prefix or {}).items())

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.by_prefix:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"]) if self.by_prefix else self.max_bytes
        for name, value in scope.get("headers") or []:
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    await _reject(send, limit)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await _reject(send, limit)


class _TooLarge(Exception):
    pass


async def _reject(send: Send, limit: int) -> None:
    body: dict[str, Any] = {
        "error": {"code": "payload_too_large", "message": f"body exceeds {limit} bytes"}
    }
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class CORSMiddleware(StarletteCORS):
    """Starlette's CORS middleware, with a short way for requests that carry no `Origin` (the
    apps' and other non-browser clients'): Starlette parses every request's headers to look for
    one and then rewrites every answer's headers through `MutableHeaders`, only to add
    `Vary: Origin` when there is none (18 µs a request, `bench/middleware_cost.py`). Here such
    a request costs one scan of the raw header names, and the answer gets the same `Vary` as
    Starlette gives it (tests/commerce/test_middleware_cors.py holds the two equal). Requests
    with an `Origin`, preflights included, go through Starlette's code unchanged."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(
            name == b"origin" for name, _ in scope.get("headers") or ()
        ):
            await super().__call__(scope, receive, send)
            return

        async def send_varying(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _vary_origin(message.get("headers") or [])
            await send(message)

        await self.app(scope, receive, send_varying)


def _vary_origin(headers: Any) -> list[tuple[bytes, bytes]]:
    """`headers` with `Vary: Origin` added as Starlette's CORS middleware adds it to an answer
    to a request without `Origin`: appended, or joined to the existing values in the first
    `vary` header (later ones dropped)."""
    out = list(headers)
    found = [i for i, (name, _) in enumerate(out) if name == b"vary"]
    if not found:
        out.append((b"vary", b"Origin"))
        return out
    value = b", ".join([*(out[i][1] for i in found), b"Origin"])
    for i in reversed(found[1:]):
        del out[i]
    out[found[0]] = (b"vary", value)
    return out
