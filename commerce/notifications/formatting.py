"""Money and dates the way each market writes them, for message texts.

- TWD: `NT$1,290`: Taiwan writes dollar prices with the `NT$` prefix and, TWD being cash-rounded
  to whole dollars, without cents (cents are shown only when an amount has them).
- THB: `฿1,290` / `฿1,290.50`: the baht sign before the amount, satang only when present.
- Dates in the user's time zone (their market's: Asia/Taipei, Asia/Bangkok), in the locale's
  own medium format (`2026年12月3日 下午5:50`, `3 ธ.ค. 2026 17:50`).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

MARKET_TIMEZONE = {"TW": "Asia/Taipei", "TH": "Asia/Bangkok"}
_PREFIX = {"TWD": "NT$", "THB": "฿"}


def timezone_of(market: str) -> ZoneInfo:
    return ZoneInfo(MARKET_TIMEZONE.get(market, "Asia/Taipei"))


def format_money(minor: int, currency: str, locale: str) -> str:
    amount = Decimal(minor) / 100
    pattern = "#,##0" if minor % 100 == 0 else "#,##0.00"
    number = format_decimal(amount, format=pattern, locale=locale)
    return f"{_PREFIX.get(currency, currency + ' ')}{number}"


def format_when(moment: datetime, *, market: str, locale: str) -> str:
    return format_datetime(
        moment, "medium", tzinfo=timezone_of(market), locale=locale
    )


def format_day(day: date, *, locale: str) -> str:
    return format_date(day, "medium", locale=locale)
