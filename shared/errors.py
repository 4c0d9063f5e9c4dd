"""Error codes shared by REST responses and socket acks.

One vocabulary for both transports, so a client maps `code` to a message the same way whether
it came from `POST /orders` or from a `chat` ack. Services raise `AppError` subclasses; the
HTTP layer and the socket layer each render them once.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INVALID = "invalid"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    MUTED = "muted"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INTERNAL = "internal_error"
    UNAVAILABLE = "unavailable"


class AppError(Exception):
    """A failure the caller can act on. `status` is the HTTP status; sockets ignore it."""

    code: str = ErrorCode.INVALID
    status: int = 400
    message: str = "invalid request"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Any = None,
    ) -> None:
        self.message = message or type(self).message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries (sockets ignore them)."""
        return {}


class InvalidInput(AppError):
    code = ErrorCode.INVALID
    status = 422
    message = "invalid input"


class Unauthorized(AppError):
    code = ErrorCode.UNAUTHORIZED
    status = 401
    message = "authentication required"


class Forbidden(AppError):
    code = ErrorCode.FORBIDDEN
    status = 403
    message = "not allowed"


class NotFound(AppError):
    code = ErrorCode.NOT_FOUND
    status = 404
    message = "not found"


class Conflict(AppError):
    code = ErrorCode.CONFLICT
    status = 409
    message = "conflict"


class RateLimited(AppError):
    code = ErrorCode.RATE_LIMITED
    status = 429
    message = "too many requests"

    def __init__(self, message: str | None = None, *, retry_after: int = 1, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = max(1, int(retry_after))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Unavailable(AppError):
    code = ErrorCode.UNAVAILABLE
    status = 503
    message = "a dependency is unavailable"


class ConfigError(Exception):
    """Bad configuration: the process prints one line and exits instead of a traceback."""
