"""Every kind renders in every locale from complete catalogues; money and dates per market."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from babel.messages.extract import extract_from_dir

from commerce.notifications import templates
from commerce.notifications.formatting import format_money, format_when
from commerce.notifications.service import in_quiet_hours
from commerce.notifications.values import Money, formatted

WHEN = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)
VALUES = {
    "order_id": 4217, "total": Money(129000, "TWD"), "amount": Money(129050, "THB"),
    "expires_at": WHEN, "paid_at": WHEN, "starts_at": WHEN, "carrier": "Kerry Express",
    "tracking_number": "KEX123", "seller": "Somchai", "title": "Flash sale", "count": 3,
    "day": WHEN.date(), "orders": 12, "units": 30,
    "gmv": (Money(129000, "TWD"), Money(35000, "THB")),
}


def _template_messages() -> set[str]:
    found = extract_from_dir(str(templates.TEMPLATE_DIR), method_map=[("**.txt", "jinja2")])
    return {message for _file, _line, message, _comments, _context in found}


@pytest.mark.parametrize("locale", ["zh_TW", "th"])
def test_catalogue_translates_every_template_text(locale: str) -> None:
    catalog = templates.catalog(locale)
    messages = _template_messages()
    assert len(messages) == 2 * len(templates.KINDS)
    for msgid in messages:
        entry = catalog.get(msgid)
        assert entry is not None, f"{locale}: missing translation of {msgid!r}"
        assert entry.string and not entry.fuzzy, f"{locale}: empty or fuzzy {msgid!r}"
        placeholders = set(re.findall(r"%\((\w+)\)s", msgid))
        assert set(re.findall(r"%\((\w+)\)s", entry.string)) == placeholders, msgid


@pytest.mark.parametrize("kind", templates.KINDS)
@pytest.mark.parametrize("locale", templates.LOCALES)
def test_every_kind_renders_in_every_locale(kind: str, locale: str) -> None:
    market = "TH" if locale == "th" else "TW"
    rendered = templates.render(kind, locale, formatted(VALUES, locale=locale, market=market))
    assert rendered.title and rendered.body
    english = templates.render(kind, "en", formatted(VALUES, locale="en", market=market))
    if locale == "en":
        assert rendered.title.isascii()
    else:  # translated, not the English source passed through
        assert rendered.title != english.title and rendered.body != english.body
        script = r"[\u4e00-\u9fff]" if locale == "zh_TW" else r"[\u0e00-\u0e7f]"
        assert re.search(script, rendered.title) and re.search(script, rendered.body)


def test_a_missing_value_fails_instead_of_rendering_a_hole() -> None:
    with pytest.raises(Exception, match="total"):
        templates.render("order_paid", "en", {"order_id": 1, "paid_at": "now"})


def test_money_as_each_market_writes_it() -> None:
    assert format_money(129000, "TWD", "zh_TW") == "NT$1,290"
    assert format_money(129050, "TWD", "en") == "NT$1,290.50"
    assert format_money(129000, "THB", "th") == "฿1,290"
    assert format_money(12345678, "THB", "th") == "฿123,456.78"


def test_dates_in_the_users_timezone_and_locale() -> None:
    assert format_when(WHEN, market="TW", locale="zh_TW") == "2026年12月3日 下午6:30:00"
    assert format_when(WHEN, market="TH", locale="th") == "3 ธ.ค. 2026 17:30:00"
    assert format_when(WHEN, market="TW", locale="en").startswith("Dec 3, 2026, 6:30:00")


@pytest.mark.parametrize(
    ("utc_hour", "market", "quiet"),
    [(13, "TW", False), (14, "TW", True), (23, "TW", True), (0, "TW", False),
     (15, "TH", True), (1, "TH", False), (0, "TH", True)],
)
def test_quiet_hours_are_local_and_wrap_midnight(utc_hour: int, market: str, quiet: bool) -> None:
    # 22:00-08:00 local: Taipei is UTC+8, Bangkok UTC+7.
    now = datetime(2026, 12, 3, utc_hour, 0, tzinfo=UTC)
    assert in_quiet_hours(now, market=market, start_hour=22, end_hour=8) is quiet
    assert in_quiet_hours(now, market=market, start_hour=8, end_hour=8) is False
