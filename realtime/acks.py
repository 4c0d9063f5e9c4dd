"""Every client event is answered with `ok(...)` or `fail(code, message)` (see CONTRACT.md)."""

from __future__ import annotations

from typing import Any

from shared.errors import AppError, ErrorCode


def ok(**fields: Any) -> dict[str, Any]:
    return {"ok": True, **fields}


def fail(code: str | ErrorCode, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": str(code), "message": message}}


def from_error(exc: AppError) -> dict[str, Any]:
    return fail(exc.code, exc.message)
