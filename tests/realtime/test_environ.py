"""`RequestEnviron` answers what python-engineio's aiohttp driver would have copied into a dict."""

from __future__ import annotations

import sys

from aiohttp.test_utils import make_mocked_request
from engineio.async_drivers.aiohttp import translate_request as library_translate
from multidict import CIMultiDict

from realtime.protocol.environ import RequestEnviron


def _request(headers: list[tuple[str, str]], path: str = "/socket.io/?EIO=4&transport=websocket"):
    return make_mocked_request("GET", path, headers=CIMultiDict(headers))


HEADERS = [
    ("Host", "live.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "keep-alive, Upgrade"),
    ("Origin", "https://shop.example.com"),
    ("Content-Type", "text/plain"),
    ("Content-Length", "0"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-For", "203.0.113.7"),
    ("X-Forwarded-For", "10.0.0.2"),  # twice: joined with a comma, as the driver joins them
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
]


def test_same_keys_and_values_as_the_library_environ() -> None:
    request = _request(HEADERS)
    library = library_translate(request)
    ours = RequestEnviron(request)
    assert dict(ours) == library
    assert len(ours) == len(library)
    for key, value in library.items():
        assert key in ours and ours[key] == value and ours.get(key) == value, key


def test_missing_keys() -> None:
    ours = RequestEnviron(_request([("Host", "h")]))
    assert "HTTP_ORIGIN" not in ours and ours.get("HTTP_ORIGIN") is None
    assert ours.get("HTTP_UPGRADE", "").lower() == ""
    # The WSGI names of these two headers have no HTTP_ prefix; the prefixed ones do not exist.
    with_type = RequestEnviron(_request([("Content-Type", "a/b")]))
    assert with_type["CONTENT_TYPE"] == "a/b" and "HTTP_CONTENT_TYPE" not in with_type
    assert 42 not in ours  # type: ignore[comparison-overlap]
    assert ours["wsgi.url_scheme"] == "http" and ours["wsgi.errors"] is sys.stderr


def test_is_small() -> None:
    """The point of it: one slot, no per-request dict of copied headers."""
    request = _request(HEADERS)
    assert sys.getsizeof(RequestEnviron(request)) < 100 < sys.getsizeof(library_translate(request))
    assert not hasattr(RequestEnviron(request), "__dict__")
