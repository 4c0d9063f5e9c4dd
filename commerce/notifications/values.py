"""Typed message values, formatted per recipient (locale, market) at render time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from commerce.notifications.formatting import format_money, format_when


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str


Value = str | int | Money | datetime


def formatted(values: dict[str, Value], *, locale: str, market: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, Money):
            out[name] = format_money(value.minor, value.currency, locale)
        elif isinstance(value, datetime):
            out[name] = format_when(value, market=market, locale=locale)
        else:
            out[name] = value
    return out
