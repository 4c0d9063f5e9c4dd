"""PHP urlencode / http_build_query compatibility (the base of ECPay and NewebPay encodings)."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest

from commerce.payment_wire.phpurl import php_build_query, php_urlencode


# Expected values are PHP's documented behaviour (php.net/urlencode: "all non-alphanumeric
# characters except -_. are replaced with a percent sign followed by two hex digits and spaces
# encoded as plus signs"); the ~ case is where Python's quote_plus differs.
@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("abcXYZ019-_.", "abcXYZ019-_."),
        (" ", "+"),
        ("~", "%7E"),
        ("!*'()", "%21%2A%27%28%29"),
        ("a+b@c/d?e=f&g", "a%2Bb%40c%2Fd%3Fe%3Df%26g"),
        ("促銷", "%E4%BF%83%E9%8A%B7"),
        ("ตุ๊กตา", "%E0%B8%95%E0%B8%B8%E0%B9%8A%E0%B8%81%E0%B8%95%E0%B8%B2"),
    ],
)
def test_php_urlencode(text: str, encoded: str) -> None:
    assert php_urlencode(text) == encoded


def test_differs_from_quote_plus_only_where_php_does() -> None:
    assert quote_plus("~") == "~"
    assert php_urlencode("~") == "%7E"


def test_build_query_keeps_order() -> None:
    assert php_build_query([("b", "2 3"), ("a", "~")]) == "b=2+3&a=%7E"
