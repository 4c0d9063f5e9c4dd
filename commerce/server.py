"""The API's uvicorn server, with the request-head limits uvicorn's httptools protocol lacks.

Why: uvicorn bounds neither the size nor the number of request headers, nor how long a client
may take to send them. A 1 MB header, 10,000 headers, or a request head sent one byte at a time
(slowloris) each held a connection and memory for as long as the client liked. nginx bounds
this in the cluster (`large_client_header_buffers`, `client_header_timeout`), but `python -m
commerce` also runs alone (the embedded default, Kubernetes pods behind a plain L4 balancer).

`BoundedHttpToolsProtocol` keeps uvicorn's fast httptools parser and adds, per request:
- a byte budget for the request line plus all header names and values (431 past it);
- a header count limit (431 past it);
- a header read timeout from the first byte of a request (or the connection's opening) to the
  end of its head (408 and close past it). Keep-alive idle time stays uvicorn's own timeout.
`server_config` is the one place both `python -m commerce` and the tests build the server from.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.settings import CommerceSettings


class _HeadRejected(Exception):
    """Raised from a parser callback to stop parsing a request head we refuse."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = 32 * 1024
    max_headers = 100
    header_timeout_s = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._head_count = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._rejected = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._head_count = 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._spend(len(url), 0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._spend(len(name) + len(value), 1)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if not self._rejected:  # a refused head was already answered (431)
            super().send_400_response(msg)

    def _spend(self, size: int, count: int) -> None:
        self._head_bytes += size
        self._head_count += count
        if self._head_bytes > self.max_header_bytes or self._head_count > self.max_headers:
            self._refuse(431, "Request Header Fields Too Large")
            raise _HeadRejected

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport is not None and not self.transport.is_closing():
            self._refuse(408, "Request Timeout")

    def _refuse(self, status: int, reason: str) -> None:
        """Answer with a small JSON error and close: the rest of the head is never read."""
        self._rejected = True
        self._disarm_head_timer()
        code = "headers_too_large" if status == 431 else "header_timeout"
        body = orjson.dumps({"error": {"code": code, "message": reason.lower()}})
        head = (
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode()
        if not self.transport.is_closing():
            self.transport.write(head + body)
            self.transport.close()


def bounded_protocol(settings: CommerceSettings) -> type[BoundedHttpToolsProtocol]:
    """The protocol class with this deployment's limits (uvicorn takes a class, not options)."""
    return type(
        "ApiHttpProtocol",
        (BoundedHttpToolsProtocol,),
        {
            "max_header_bytes": settings.http_max_header_bytes,
            "max_headers": settings.http_max_headers,
            "header_timeout_s": settings.http_header_timeout_s,
        },
    )


LoopName = Literal["none", "auto", "asyncio", "uvloop"]


def server_config(
    app: Any, settings: CommerceSettings, *, loop: LoopName = "uvloop"
) -> uvicorn.Config:
    """The uvicorn configuration of the API process (tests pass `loop="none"`)."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop=loop,
        http=bounded_protocol(settings),
        proxy_headers=True,
        forwarded_allow_ips=",".join(settings.trusted_proxies),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
