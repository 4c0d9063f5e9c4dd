"""Message texts: one Jinja2 template per kind, translated with Babel gettext catalogues.

Each `templates/<kind>.txt` has a `title` and a `body` block whose texts are `{% trans %}`
blocks; `locale/<locale>/LC_MESSAGES/messages.po` holds the translations. Catalogues are read
from the `.po` sources and compiled in memory once per process (no build step, nothing binary in
the repository). English is the source language. `render` takes values already formatted for
the user (money and dates: `formatting.py`).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined

HERE = Path(__file__).resolve().parent
TEMPLATE_DIR = HERE / "templates"
LOCALE_DIR = HERE / "locale"
LOCALES = ("en", "zh_TW", "th")
KINDS = (
    "order_placed",
    "order_paid",
    "order_shipped",
    "order_refunded",
    "stream_live",
    "stream_reminder",
    "cart_abandoned",
    "seller_daily_report",
)
# Marketing kinds respect the quiet hours for email and SMS; the others are transactional.
MARKETING_KINDS = frozenset({"stream_live", "stream_reminder", "cart_abandoned"})


@dataclass(frozen=True, slots=True)
class Rendered:
    title: str
    body: str


@functools.cache
def catalog(locale: str) -> Catalog:
    """The parsed `.po` catalogue of a locale (tests check it covers every template)."""
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        return read_po(fp, locale=locale)


@functools.cache
def _translations(locale: str) -> NullTranslations:
    if locale == "en":
        return NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, catalog(locale))
    buffer.seek(0)
    return Translations(fp=buffer)


@functools.cache
def _environment(locale: str) -> Environment:
    # Plain-text messages (email text/plain, SMS, inbox JSON): clients escape what they display.
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        autoescape=False,  # noqa: S701
        keep_trailing_newline=False,
    )
    env.install_gettext_translations(_translations(locale), newstyle=True)  # type: ignore[attr-defined]
    return env


def render(kind: str, locale: str, values: dict[str, Any]) -> Rendered:
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    env = _environment(locale if locale in LOCALES else "en")
    template = env.get_template(f"{kind}.txt")
    context = template.new_context(values)
    title = "".join(template.blocks["title"](context)).strip()
    body = "".join(template.blocks["body"](context)).strip()
    return Rendered(title=title, body=body)
