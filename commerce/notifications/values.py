"""Typed message values, formatted per recipient (locale, market) at render time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from commerce.notifications.formatting import format_day, format_money, format_when


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str


Value = str | int | Money | datetime | date | tuple[Money, ...]


def formatted(values: dict[str, Value], *, locale: str, market: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, Money):
            out[name] = format_money(value.minor, value.currency, locale)
        elif isinstance(value, datetime):
            out[name] = format_when(value, market=market, locale=locale)
        elif isinstance(value, date):
            out[name] = format_day(value, locale=locale)
        elif isinstance(value, tuple):  # amounts in several currencies
            out[name] = " + ".join(format_money(m.minor, m.currency, locale) for m in value)
        else:
            out[name] = value
    return out
