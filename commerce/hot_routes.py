"""Bare ASGI endpoints in front of FastAPI's router, for the few routes a flash sale floods.

In a flash sale one route (`POST /api/v1/orders`) takes nearly every request, and most of its
answers are a 409 from the Redis stock gate. For such an answer FastAPI's per-request machinery
(matching the path against every route, solving the dependency graph, building a `Request`
and a `Response`) was 35-40 % of the API process's CPU (py-spy, BENCHMARKS.md), more than the
work itself. A hot route skips that machinery and keeps everything that matters: it sits inside
the same middleware (request id, access log and metrics, body size limit, CORS, the 500 handler),
validates with the same pydantic models, authenticates with the same function, calls the same
service and answers with the same error envelope (`commerce.errors.error_body`).

The FastAPI route of the same path stays declared: it documents the route in OpenAPI and
serves it when `HOT_ROUTES_ENABLED=false`. The orders tests run against both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from commerce.context import AppContext
from commerce.errors import clean_validation_errors, error_body
from commerce.outage import as_unavailable
from shared.errors import AppError, ErrorCode, Unauthorized
from shared.tokens import Principal

M = TypeVar("M", bound=BaseModel)
Headers = dict[bytes, bytes]
Handler = Callable[["HotRequest"], Awaitable["HotResponse"]]


@dataclass(frozen=True, slots=True)
class HotRoute:
    """`url` is matched exactly; `path` is the route template that `RequestContextMiddleware`
    reads for its metrics label (`scope["route"].path`), the same one FastAPI's route gives."""

    method: str
    url: str
    path: str
    handler: Handler


@dataclass(slots=True)
class HotRequest:
    ctx: AppContext
    headers: Headers
    body: bytes

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    def signed_principal(self) -> Principal:
        """The caller whose Bearer token's signature and claims verify, as
        `commerce.deps.CurrentPrincipal` decides it, but NOT yet checked for revocation: the
        route must have that done (`order_service.place_order(revocation_checked=False)` does
        it in the same Redis round trip as its stock gate)."""
        authorization = self.header(b"authorization")
        scheme, _, token = (authorization or "").partition(" ")
        if not authorization or not token:
            raise Unauthorized("authentication required")
        if scheme.lower() != "bearer":
            raise Unauthorized("use a Bearer token")
        return self.ctx.tokens.verify_access(token.strip())

    def json_model(self, model: type[M]) -> M:
        """The body as `model`, with FastAPI's answers: 400 `malformed_json`, 415 for a body
        that does not say it is JSON, 422 `invalid` with the error list under `details`."""
        content_type = self.header(b"content-type")
        if content_type is not None:
            media = content_type.partition(";")[0].strip().lower()
            if media != "application/json" and not media.endswith("+json"):
                raise _HttpError(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send application/json")
        if not self.body:
            raise _HttpError(
                422, ErrorCode.INVALID, "request validation failed",
                [{"loc": ["body"], "msg": "Field required", "type": "missing"}],
            )
        try:
            data = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise _HttpError(400, "malformed_json", "request body is not valid JSON") from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            errors = [{**e, "loc": ["body", *e.get("loc", ())]} for e in exc.errors()]
            raise _HttpError(
                422, ErrorCode.INVALID, "request validation failed",
                clean_validation_errors(errors),
            ) from None


@dataclass(frozen=True, slots=True)
class HotResponse:
    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()


class _HttpError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


class HotRoutesMiddleware:
    """Serves `routes` itself and passes every other request on. Innermost of the app's own
    middleware, so the request-context, body-limit and CORS layers wrap hot routes too."""

    def __init__(self, app: ASGIApp, *, routes: list[HotRoute]) -> None:
        self.app = app
        self.routes = {(r.method, r.url): r for r in routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            self.routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        )
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        body = await _body(receive)
        if body is None:
            return  # the client went away before sending its whole body: nothing to answer
        request = HotRequest(scope["app"].state.ctx, dict(scope["headers"]), body)
        try:
            response = await route.handler(request)
        except AppError as exc:
            response = _error(exc.status, exc.code, exc.message, exc.details, _headers(exc))
        except _HttpError as exc:
            response = _error(exc.status, exc.code, exc.message, exc.details)
        except Exception as exc:
            unavailable = as_unavailable(exc)
            if unavailable is None:
                raise  # a bug: the outermost handler answers 500 and logs it
            response = _error(unavailable.status, unavailable.code, unavailable.message,
                              unavailable.details, _headers(unavailable))
        await send({
            "type": "http.response.start",
            "status": response.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(response.body)).encode()),
                *response.headers,
            ],
        })
        await send({"type": "http.response.body", "body": response.body})


def _headers(exc: AppError) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((k.lower().encode(), v.encode()) for k, v in exc.headers().items())


def _error(
    status: int, code: str, message: str, details: Any = None,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> HotResponse:
    return HotResponse(status, orjson.dumps(error_body(code, message, details)), headers)


async def _body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client disconnected first. The body-size limit
    is enforced by `BodySizeLimitMiddleware` around this one."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
