"""A WSGI-style environ that is a view over the aiohttp request, not a copy of it.

python-engineio's aiohttp driver copies every request header into a new dict under a new
`HTTP_*` key string, and python-socketio keeps that dict (`server.environ`) for the connection's
life, as do the suspended frames of the request handler: 2.6 KB per idle WebSocket, an eighth
of its memory (issue 20, BENCHMARKS.md). The request itself is alive for as long anyway (it is
the WebSocket's), so `RequestEnviron` answers the same keys from it on demand, for 48 bytes.

Every key the libraries and handlers read is there (`REQUEST_METHOD`, `QUERY_STRING`,
`PATH_INFO`, `CONTENT_TYPE`, `CONTENT_LENGTH`, `HTTP_*` for each header, several values of one
header joined by commas as the driver joins them, `wsgi.input`, `wsgi.url_scheme`,
`aiohttp.request`, ...). It is read-only: nothing in either library writes to the environ.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from aiohttp import web

Environ = Mapping[str, Any]  # what handlers get: a RequestEnviron, or a dict in tests


class RequestLike(Protocol):
    """What `RequestEnviron` reads: an aiohttp request, or the accept path's
    `AcceptedRequest` (realtime/protocol/accept.py)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def path_qs(self) -> str: ...
    @property
    def query_string(self) -> str: ...
    @property
    def version(self) -> Any: ...
    @property
    def headers(self) -> Any: ...
    @property
    def content(self) -> Any: ...

# Keys whose values do not depend on the request (python-engineio's aiohttp driver sets them so).
_CONSTANT: dict[str, Any] = {
    "wsgi.errors": sys.stderr,
    "wsgi.version": (1, 0),
    "wsgi.async": True,
    "wsgi.multithread": False,
    "wsgi.multiprocess": False,
    "wsgi.run_once": False,
    "SERVER_SOFTWARE": "aiohttp",
    "REMOTE_ADDR": "127.0.0.1",
    "REMOTE_PORT": "0",
    "SERVER_NAME": "aiohttp",
    "SERVER_PORT": "0",
    "SCRIPT_NAME": "",
}
_FROM_REQUEST = (
    "wsgi.input",
    "wsgi.url_scheme",
    "REQUEST_METHOD",
    "QUERY_STRING",
    "RAW_URI",
    "SERVER_PROTOCOL",
    "PATH_INFO",
    "aiohttp.request",
)
# Headers that the WSGI convention names without the HTTP_ prefix.
_UNPREFIXED = {"CONTENT-TYPE": "CONTENT_TYPE", "CONTENT-LENGTH": "CONTENT_LENGTH"}
_HEADER_OF = {v: k for k, v in _UNPREFIXED.items()}
_MISSING: Any = object()


def _key(header: str) -> str:
    upper = header.upper()
    return _UNPREFIXED.get(upper) or "HTTP_" + upper.replace("-", "_")


def _header(key: str) -> str | None:
    """The header name a key stands for (any case: aiohttp's headers are case-insensitive)."""
    if key in _HEADER_OF:
        return _HEADER_OF[key]
    if key.startswith("HTTP_") and key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
        return key[5:].replace("_", "-")
    return None


class RequestEnviron(Mapping[str, Any]):
    """The environ python-engineio's aiohttp driver would build, read from the request."""

    __slots__ = ("request",)

    def __init__(self, request: RequestLike) -> None:
        self.request = request

    def __getitem__(self, key: str) -> Any:
        value = self._value(key)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        """`Mapping.get` without raising and catching a KeyError for a missing header (the
        connect path asks for `HTTP_ORIGIN`, which most clients do not send)."""
        value = self._value(key)
        return default if value is _MISSING else value

    def _value(self, key: str) -> Any:
        request = self.request
        if key in _CONSTANT:
            return _CONSTANT[key]
        if key == "REQUEST_METHOD":
            return request.method
        if key == "QUERY_STRING":
            return request.query_string or ""
        if key == "PATH_INFO":
            return request.path
        if key == "wsgi.input":
            return request.content
        if key == "aiohttp.request":
            return request
        if key == "wsgi.url_scheme":
            return self.get("HTTP_X_FORWARDED_PROTO", "http")
        if key == "RAW_URI":
            return request.path_qs
        if key == "SERVER_PROTOCOL":
            return f"HTTP/{request.version[0]}.{request.version[1]}"
        header = _header(key)
        if header is not None:
            values = request.headers.getall(header, ())
            if values:
                return values[0] if len(values) == 1 else ",".join(values)
        return _MISSING

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in _CONSTANT or key in _FROM_REQUEST:
            return True
        header = _header(key)
        return header is not None and header in self.request.headers

    def __iter__(self) -> Iterator[str]:
        yield from _CONSTANT
        yield from _FROM_REQUEST
        seen: set[str] = set()
        for name in self.request.headers:
            key = _key(name)
            if key not in seen:
                seen.add(key)
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"RequestEnviron({self.request.method} {self.request.path_qs})"


def translate_request(request: web.BaseRequest) -> RequestEnviron:
    """python-engineio's `translate_request` for aiohttp, without the copy."""
    return RequestEnviron(request)
