"""PHP `urlencode` (RFC 1866 form encoding), byte for byte.

ECPay and NewebPay publish their MAC and encryption rules in terms of PHP's `urlencode` /
`http_build_query`. Python's `urllib.parse.quote_plus` differs from PHP on `~` (Python leaves it
alone, PHP writes `%7E`), and a single differing byte changes the MAC, so we encode ourselves.
"""

from __future__ import annotations

from collections.abc import Iterable

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def php_urlencode(text: str) -> str:
    """Encode `text` as PHP's `urlencode` does: UTF-8, space as `+`, `%XX` upper-case hex."""
    out: list[str] = []
    for byte in text.encode("utf-8"):
        if byte in _SAFE:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def php_build_query(pairs: Iterable[tuple[str, str]]) -> str:
    """`http_build_query` for a flat list of string pairs, keeping the caller's order."""
    return "&".join(f"{php_urlencode(k)}={php_urlencode(v)}" for k, v in pairs)
