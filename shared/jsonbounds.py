"""A nesting bound for JSON from outside, checked before any parser recurses into it.

Why: CPython's `json` recurses once per nesting level and raises `RecursionError` (a 500) on a
few thousand levels; orjson stops at 1,024 with its own error. Payment and Cloudflare webhooks
are anonymous, so an attacker chooses the depth. Provider payloads are shallow (Omise events,
the deepest, nest about six levels), so anything beyond `MAX_JSON_DEPTH` is refused before
parsing, in one linear pass that never recurses. Size is bounded earlier, per route, by
`commerce.middleware.BodySizeLimitMiddleware`.
"""

from __future__ import annotations

import re

MAX_JSON_DEPTH = 32
# The only bytes that matter for nesting: brackets, and quotes/backslashes (strings may hold
# brackets). A regex finds them in C; the Python loop then runs once per such byte.
_SIGNIFICANT = re.compile(rb'[\[\]{}"\\]')


class JsonTooDeep(ValueError):
    """The document nests deeper than allowed."""


def check_depth(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise `JsonTooDeep` if `raw` opens more than `max_depth` nested arrays/objects.

    Works on malformed input too (it never raises anything else): the parser that runs after it
    reports syntax errors.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    depth = 0
    in_string = False
    escaped_at = -2
    for match in _SIGNIFICANT.finditer(data):
        at = match.start()
        byte = data[at]
        if in_string:
            if byte == 0x5C and escaped_at != at - 1:  # a backslash that is not itself escaped
                escaped_at = at
            elif byte == 0x22 and escaped_at != at - 1:
                in_string = False
            continue
        if byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > max_depth:
                raise JsonTooDeep(f"JSON nests deeper than {max_depth} levels")
        elif byte in (0x5D, 0x7D):
            depth -= 1
