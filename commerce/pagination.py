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
Cursor = Annotated[
    str | None,
    Query(max_length=512, description="from the previous page"),
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


_MAX_KEY = 2**63 - 1  # keys are BIGINT columns or small ranks: anything larger is tampering
_MAX_TEXT = 64


def encode_cursor(*key: int | str) -> str:
    """The opaque cursor for a page that ends at the row with sort key `key`."""
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    """The sort key a cursor holds, or 422 `invalid_cursor`.

    The one codec every list uses: a key is exactly `arity` parts, each an integer in the signed
    64-bit range (the lists sort on BIGINT ids and small integer ranks) or a short string (an ISO
    timestamp), so nothing a client makes up (floats, `2**63`, `1e300`, nesting, booleans)
    reaches a query. `decode_id_cursor` is the common one-integer case.
    """
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise _invalid() from None
    if not isinstance(key, list) or len(key) != arity:
        raise _invalid()
    if not all(_valid_part(part) for part in key):
        raise _invalid()
    return key


def _valid_part(part: object) -> bool:
    if isinstance(part, str):
        return len(part) <= _MAX_TEXT
    return isinstance(part, int) and not isinstance(part, bool) and -_MAX_KEY <= part <= _MAX_KEY


def decode_id_cursor(cursor: str | None) -> int | None:
    """The id of the last row of the previous page (lists ordered by id, newest first)."""
    key = decode_cursor(cursor, 1)
    if key is None:
        return None
    if not isinstance(key[0], int):
        raise _invalid()
    return key[0]


def _invalid() -> InvalidInput:
    return InvalidInput("malformed cursor", code="invalid_cursor")
