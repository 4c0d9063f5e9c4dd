"""Cursor pagination shared by every list route: `?limit=&cursor=` -> `{items, next_cursor}`.

Cursors are opaque (URL-safe base64 of a small JSON list of the sort key of the last row), so a
list stays stable while rows are inserted, unlike offsets. A tampered cursor is a 422, not a 500.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel

from shared.errors import InvalidInput

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=100, description="page size (1-100)")]
Cursor = Annotated[str | None, Query(max_length=512, description="from the previous page")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidInput("malformed cursor", code="invalid_cursor") from None
    if not isinstance(key, list) or len(key) != arity:
        raise InvalidInput("malformed cursor", code="invalid_cursor")
    for part in key:
        if not isinstance(part, int | str | float) or isinstance(part, bool):
            raise InvalidInput("malformed cursor", code="invalid_cursor")
    return key
