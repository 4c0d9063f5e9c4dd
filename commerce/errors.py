"""The one place errors become HTTP responses: `{"error": {code, message, details?}}`.

Services raise `AppError`s; validation failures, unknown routes and unexpected exceptions are
mapped here too, so a client never sees FastAPI's default `{"detail": ...}` nor a bare 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError as BrokerError
from redis import exceptions as redis_exc
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from commerce.outage import as_unavailable
from shared.errors import AppError, ErrorCode
from shared.outage import REDIS_DOWN

log = structlog.get_logger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    429: ErrorCode.RATE_LIMITED,
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The envelope every error answer carries (FastAPI handlers and raw ASGI routes alike)."""
    body: dict[str, Any] = {"code": str(code), "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


@dataclass(frozen=True, slots=True)
class ErrorAnswer:
    """An error answer before it is rendered: by the handlers below as a `JSONResponse`, by the
    hot routes (`commerce.hot_routes`) as raw ASGI messages. Both routes of a path answer the
    same errors with the same envelope because both get them from here."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers or None)


def app_error_answer(exc: AppError) -> ErrorAnswer:
    return ErrorAnswer(exc.status, error_body(exc.code, exc.message, exc.details), exc.headers())


def validation_answer(errors: Sequence[Any]) -> ErrorAnswer:
    """400 `malformed_json` for a body that is not JSON, else 422 `invalid` with the errors
    (pydantic's, `loc` starting at `body`, `query`, ...) under `details`."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return ErrorAnswer(400, error_body("malformed_json", "request body is not valid JSON"))
    return ErrorAnswer(
        422,
        error_body(ErrorCode.INVALID, "request validation failed", clean_validation_errors(errors)),
    )


def clean_validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    # Never echo the input back: it may hold a password or a token.
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors
    ]


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return app_error_answer(exc).response()


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_answer(list(exc.errors())).response()


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    return error_response(
        exc.status_code, code, message, headers=dict(exc.headers) if exc.headers else None
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    unavailable = as_unavailable(exc)
    if unavailable is not None:
        # Not a bug: a dependency is down. One warning line, no traceback per request.
        log.warning("dependency_unavailable", path=request.url.path,
                    dependency=unavailable.details["dependency"], error=type(exc).__name__)
        return await _app_error(request, unavailable)
    log.exception("unhandled_error", path=request.url.path)
    return error_response(500, ErrorCode.INTERNAL, "internal error")


# The exception types an outage raises. Handled by FastAPI's exception middleware (where the
# answer ends the request) rather than the outermost 500 handler (which re-raises, so the server
# would log a traceback per request for as long as the outage lasts). `_unexpected` decides
# whether it is an outage (503) or a bug (500).
OUTAGE_TYPES: tuple[type[Exception], ...] = (
    *(t for t in REDIS_DOWN if issubclass(t, Exception)),
    sa_exc.DBAPIError, sa_exc.TimeoutError, BrokerError, redis_exc.RedisError,
)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for outage_type in OUTAGE_TYPES:
        app.add_exception_handler(outage_type, _unexpected)
    app.add_exception_handler(Exception, _unexpected)
