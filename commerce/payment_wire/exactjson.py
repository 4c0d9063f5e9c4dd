"""JSON for provider payloads that never routes a number through a binary float.

Two provider facts force this: LINE Pay transaction ids are 19-digit integers (more than the 53
bits a double holds), and amounts such as 2C2P's `"amount": 1000.00` are decimal numbers we
keep as `Decimal`. The stdlib encoder can only write a number it can turn into `float` or
`int`, so we emit JSON ourselves: compact, keys in the caller's order (we sign exactly the bytes
we send), `Decimal` written from its digits, `float` refused outright.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from commerce.payment_wire.wire_errors import WireFormatError
from shared.jsonbounds import JsonTooDeep, check_depth


def _reject_constant(name: str) -> Any:
    raise WireFormatError(f"non-standard JSON constant {name}")


def loads(raw: str | bytes) -> Any:
    """Parse JSON: integers stay exact `int`, fractions and exponents become `Decimal`.

    Nesting is bounded first (`shared.jsonbounds`): these payloads come from anonymous callers,
    and the stdlib parser would otherwise recurse into a 5,000-level document and raise
    `RecursionError`. Integers longer than Python's digit limit are refused as well."""
    try:
        check_depth(raw)
        return json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except (JsonTooDeep, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WireFormatError("payload is not JSON") from exc
    except ValueError as exc:  # int digit limit (sys.set_int_max_str_digits)
        raise WireFormatError("payload has an out-of-range number") from exc


def dumps(value: Any) -> str:
    """Compact JSON (`,` and `:` without spaces), non-ASCII kept as UTF-8 text."""
    parts: list[str] = []
    _emit(value, parts)
    return "".join(parts)


def _emit(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, (bool, str)):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int):
        out.append(str(int(value)))  # int(...) drops IntEnum/bool-like subclasses' repr
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send non-finite number {value}")
        out.append(format(value, "f"))
    elif isinstance(value, float):
        raise TypeError("floats are not allowed in payment payloads; use int or Decimal")
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError("JSON object keys must be str")
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _emit(item, out)
        out.append("}")
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _emit(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
