"""exactjson: JSON that never routes a number through a float."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from commerce.payment_wire.exactjson import dumps, loads
from commerce.payment_wire.wire_errors import WireFormatError


def test_compact_ordered_output_matches_stdlib_for_plain_values() -> None:
    value = {"b": 1, "a": [True, False, None, 'x"y', "ไทย"], "c": {"d": -7}}
    assert dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (Decimal("1000.00"), "1000.00"),
        (Decimal("1E+3"), "1000"),
        (Decimal("-0.5"), "-0.5"),
        (Decimal("230.87"), "230.87"),
        (2**70, str(2**70)),
    ],
)
def test_numbers_are_written_from_their_digits(number: object, text: str) -> None:
    assert dumps({"n": number}) == f'{{"n":{text}}}'


@pytest.mark.parametrize("bad", [1.5, Decimal("NaN"), Decimal("Infinity"), b"bytes", {1: "x"}])
def test_refuses_floats_non_finite_and_unknown_types(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        dumps({"v": bad} if not isinstance(bad, dict) else bad)


def test_loads_keeps_integers_exact_and_fractions_decimal() -> None:
    parsed = loads('{"id": 12345678901234567890123, "amt": 0.1, "e": 1e2}')
    assert parsed == {"id": 12345678901234567890123, "amt": Decimal("0.1"), "e": Decimal("1E+2")}


@pytest.mark.parametrize("raw", ["{", '{"a": NaN}', '{"a": Infinity}', b"\xff"])
def test_loads_rejects_non_json(raw: str | bytes) -> None:
    with pytest.raises(WireFormatError):
        loads(raw)
