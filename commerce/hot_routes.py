"""Bare ASGI endpoints in front of FastAPI's router, for the few routes a flash sale floods.

In a flash sale one route (`POST /api/v1/orders`) takes nearly every request, and most of its
answers are a 409 from the Redis stock gate. For such an answer FastAPI's per-request machinery
(matching the path against every route, solving the dependency graph, building a `Request`
and a `Response`) was 35-40 % of the API process's CPU (py-spy, BENCHMARKS.md), more than the
work itself. A hot route skips that machinery and keeps everything that matters: it sits inside
the same middleware (request id, access log and metrics, body size limit, CORS, the 500 handler),
validates with the same pydantic models, authenticates with the same function, calls the same
service, reads the Bearer token with the same rule (`commerce.deps.bearer_token`) and answers
errors with the same envelopes (`commerce.errors.ErrorAnswer`): only the parsing of the request
differs.

The FastAPI route of the same path stays declared: it documents the route in OpenAPI and
serves it when `HOT_ROUTES_ENABLED=false`. The orders tests run against both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from commerce.context import AppContext
from commerce.deps import bearer_token, not_authenticated
from commerce.errors import ErrorAnswer, app_error_answer, error_body, validation_answer
from commerce.outage import as_unavailable
from shared.errors import AppError, ErrorCode
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
    state: State  # the app's (`ctx`, and what `create_app` built beside it)
    headers: Headers
    body: bytes
    client_ip: str  # as `commerce.deps.client_ip` gives it (after uvicorn's proxy headers)

    @property
    def ctx(self) -> AppContext:
        ctx: AppContext = self.state.ctx
        return ctx

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    def signed_principal(self) -> Principal:
        """The caller whose Bearer token's signature and claims verify, as
        `commerce.deps.CurrentPrincipal` decides it, but NOT yet checked for revocation: the
        route must have that done (`Checkout.place_order(revocation_checked=False)` does it in
        the same Redis round trip as its stock gate)."""
        token = bearer_token(self.header(b"authorization"))
        if token is None:
            raise not_authenticated()
        return self.ctx.tokens.verify_access(token)

    def json_model(self, model: type[M]) -> M:
        """The body as `model`, with FastAPI's answers: 400 `malformed_json`, 415 for a body
        that does not say it is JSON, 422 `invalid` with the error list under `details`."""
        content_type = self.header(b"content-type")
        if content_type is not None:
            media = content_type.partition(";")[0].strip().lower()
            if media != "application/json" and not media.endswith("+json"):
                raise _Answer(ErrorAnswer(
                    415, error_body(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send application/json")
                ))
        if not self.body:
            missing = {"loc": ["body"], "msg": "Field required", "type": "missing"}
            raise _Answer(validation_answer([missing]))
        try:
            data = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise _Answer(validation_answer([{"type": "json_invalid"}])) from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            errors = [{**e, "loc": ["body", *e.get("loc", ())]} for e in exc.errors()]
            raise _Answer(validation_answer(errors)) from None


@dataclass(frozen=True, slots=True)
class HotResponse:
    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()


class _Answer(Exception):
    """An error answer decided while parsing the request (FastAPI's own answers for these)."""

    def __init__(self, answer: ErrorAnswer) -> None:
        super().__init__(answer.status)
        self.answer = answer


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
        client = scope.get("client")
        request = HotRequest(
            scope["app"].state, dict(scope["headers"]), body, client[0] if client else "unknown"
        )
        try:
            response = await route.handler(request)
        except AppError as exc:
            response = _error(app_error_answer(exc))
        except _Answer as exc:
            response = _error(exc.answer)
        except Exception as exc:
            unavailable = as_unavailable(exc)
            if unavailable is None:
                raise  # a bug: the outermost handler answers 500 and logs it
            response = _error(app_error_answer(unavailable))
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


def _error(answer: ErrorAnswer) -> HotResponse:
    headers = tuple((k.lower().encode(), v.encode()) for k, v in answer.headers.items())
    return HotResponse(answer.status, orjson.dumps(answer.body), headers)


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
