"""shared.text: the one hygiene rule for names, titles and descriptions (and chat)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.text import TextRejected, clean_text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Cafe\u0301", "Café"),  # NFC: e + combining acute becomes one code point
        ("  Mei  ", "Mei"),
        ("Mei\r\nLin", "Mei  Lin"),
        ("Mei\x00Lin", "MeiLin"),
        ("\u202eevil\u202c.exe", "evil.exe"),
        ("a\u2066b\u2069c", "abc"),
        ("tab\there", "tab here"),
        ("👩\u200d💻 dev", "👩\u200d💻 dev"),  # a ZWJ inside visible text is kept
        ("ร้านค้า", "ร้านค้า"),  # Thai combining marks kept
        ("耳機 \ue000", "耳機"),  # private use removed
    ],
)
def test_cleans(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "\u200b\u200b", "\u200d", "\u3164", "\u2800\u2800", "\u202e", "\x00\n\t",
     "\u0301", "\ufeff \u2060"],
)
def test_refuses_text_with_nothing_visible(raw: str) -> None:
    with pytest.raises(TextRejected):
        clean_text(raw)


@pytest.mark.parametrize("raw", ["Mei\nLin", "Mei\x00", "\u202eMei", "Mei\ue000", "a\tb"])
def test_strict_refuses_what_it_would_remove(raw: str) -> None:
    clean_text(raw)  # the lenient mode cleans it
    with pytest.raises(TextRejected):
        clean_text(raw, strict=True)


def test_multiline_keeps_line_breaks_and_bounds_length() -> None:
    assert clean_text("one\r\ntwo\n\u202ethree", multiline=True) == "one\ntwo\nthree"
    with pytest.raises(TextRejected):
        clean_text("x" * 11, max_chars=10)


_ASCII = [" ", "  ", "a", " Mei Lin ", "~!@#$%^&*()_+`-={}|[]\\:\";'<>?,./", "x" * 12,
          "  x" * 4, "Bench Buyer", "1 Bench Road", "0912345678"]


@pytest.mark.parametrize("raw", [*_ASCII, "".join(chr(c) for c in range(32, 127))])
@pytest.mark.parametrize(
    "mode",
    [{}, {"strict": True}, {"multiline": True}, {"max_chars": 10},
     {"max_chars": 10, "strict": True}],
)
def test_printable_ascii_short_way_answers_as_the_full_rule(
    raw: str, mode: dict[str, Any]
) -> None:
    """Printable ASCII takes a short way (`_clean_printable_ascii`); it must give exactly the
    full rule's answer, text or refusal, in every mode."""
    from shared.text import _clean_printable_ascii, _clean_unicode

    def outcome(clean: object) -> str:
        try:
            return "ok:" + clean()  # type: ignore[operator]
        except TextRejected as exc:
            return "refused:" + str(exc)

    full = {"max_chars": None, "multiline": False, "strict": False, **mode}
    short = outcome(lambda: _clean_printable_ascii(raw, max_chars=full["max_chars"]))
    assert short == outcome(lambda: _clean_unicode(raw, **full))
    assert outcome(lambda: clean_text(raw, **mode)) == short
