"""Money: integer minor units inside, two-decimal strings at the edges, never float.

TWD and THB both have two minor digits in ISO 4217 (TWD is cash-rounded to whole dollars, which
providers such as ECPay require: see `to_whole_units`).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

Currency = Literal["TWD", "THB"]
CURRENCIES: tuple[str, ...] = ("TWD", "THB")
MARKET_CURRENCY: dict[str, Currency] = {"TW": "TWD", "TH": "THB"}
_CENT = Decimal("0.01")
MAX_MINOR = 10**12  # 10 billion in major units: far beyond any real product


def to_minor(amount: Decimal | str | int) -> int:
    """'1290.00' -> 129000. Raises ValueError for non-numbers, NaN, >2 decimals or negatives."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise ValueError("not a decimal amount") from None
    if not value.is_finite():
        raise ValueError("amount must be finite")
    if value != value.quantize(_CENT):
        raise ValueError("amount has more than two decimals")
    if value < 0:
        raise ValueError("amount must not be negative")
    minor = int(value * 100)
    if minor > MAX_MINOR:
        raise ValueError("amount too large")
    return minor


def from_minor(minor: int) -> str:
    """129000 -> '1290.00' (the wire format of the contract)."""
    return str((Decimal(minor) / 100).quantize(_CENT, rounding=ROUND_HALF_UP))


def to_whole_units(minor: int) -> int:
    """For providers that take whole dollars/baht only; refuses to silently drop cents."""
    if minor % 100:
        raise ValueError("amount has cents but the provider takes whole units")
    return minor // 100
