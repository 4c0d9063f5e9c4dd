"""Chat text normalisation and banned-word masking (pure functions, no server)."""

from __future__ import annotations

import pytest

from realtime.wordfilter import WordFilter, clean_text
from shared.errors import InvalidInput


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  hi  ", "hi"),
        ("e\u0301", "\u00e9"),  # NFC
        ("a\x00b\x1bc", "abc"),  # C0 controls dropped
        ("a\tb\nc", "a b c"),  # whitespace controls become spaces
        ("\u202eevil", "evil"),  # bidi override dropped
        ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"),  # ZWJ emoji sequence kept
        ("สวัสดีครับ", "สวัสดีครับ"),  # Thai combining marks kept
    ],
)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw, max_chars=200) == expected


@pytest.mark.parametrize("raw", ["", " \n\t ", "\x00", "x" * 201])
def test_clean_text_rejects(raw: str) -> None:
    with pytest.raises(InvalidInput):
        clean_text(raw, max_chars=200)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("you are a jerk", "you are a ****"),
        ("JERK!", "****!"),
        ("j.e.r.k", "*******"),
        ("j e r k face", "* * * * face"),
        ("jeeeerrrk", "*********"),
        ("\uff4a\uff45\uff52\uff4b", "****"),  # full-width
        ("混蛋", "**"),
        ("你這個混 蛋!", "你這個* *!"),
        ("ไอ้บ้า", "ไอ้***"),
        ("nothing to see", "nothing to see"),
    ],
)
def test_mask(text: str, masked: str) -> None:
    assert WordFilter(["jerk", "混蛋", "บ้า"]).mask(text) == masked


def test_no_banned_words_is_identity() -> None:
    assert WordFilter([]).mask("anything") == "anything"
