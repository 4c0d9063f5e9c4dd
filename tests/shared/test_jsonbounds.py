"""shared.jsonbounds: nesting is bounded without recursion, strings do not count."""

from __future__ import annotations

import json

import pytest

from shared.jsonbounds import JsonTooDeep, check_depth


def test_deep_documents_are_refused_before_parsing() -> None:
    with pytest.raises(JsonTooDeep):
        check_depth(b"[" * 100_000)
    with pytest.raises(JsonTooDeep):
        check_depth('{"a":' * 33 + "1" + "}" * 33)
    check_depth('{"a":' * 32 + "1" + "}" * 32)


@pytest.mark.parametrize(
    "doc",
    [
        {"text": "[[[[" * 100},
        {"quote": '\\"[[[[' * 50},
        {"backslashes": "\\\\" * 10 + "[" * 100},
        [{"a": [1, 2, {"b": "}}}}]]]]"}]}],
    ],
)
def test_brackets_inside_strings_do_not_count(doc: object) -> None:
    raw = json.dumps(doc)
    check_depth(raw)
    check_depth(raw.encode())


def test_malformed_input_is_left_to_the_parser() -> None:
    for raw in (b"", b"\xff\xfe", b'"unterminated [[[', b"]]]]"):
        check_depth(raw)
