"""Security headers on every response, and `/metrics` only for the networks allowed to scrape it.

Pure ASGI, like `commerce.middleware`, so the hot order route pays one tuple append per response.

Headers (OWASP Secure Headers Project): `X-Content-Type-Options: nosniff` (a JSON answer is
never sniffed into HTML), `X-Frame-Options: DENY` plus CSP `frame-ancestors 'none'` (no
clickjacking), `Referrer-Policy: no-referrer` (URLs with ids or tokens do not leak), and a CSP:
API answers get `default-src 'none'` (they are data, never a document that runs anything);
pages (`/docs`, the H5 pages) get a policy that lets them load their own scripts and styles,
plus the Swagger UI assets FastAPI's `/docs` loads. A header a route set itself is kept.

`/metrics` tells an outsider request rates, routes and error counts: it answers only clients
whose address is in `METRICS_ALLOWED_NETWORKS` (default: loopback and the private ranges that
Prometheus scrapes from in the cluster and in Kubernetes); anyone else gets 404. Behind nginx
the client address is the forwarded one (uvicorn's proxy headers), and nginx itself does not
route `/metrics` at all.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
PAGE_CSP = (
    b"default-src 'self'; "
    b"script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"img-src 'self' data: blob: https:; media-src 'self' blob: https:; "
    b"connect-src 'self' ws: wss: https:; worker-src 'self' blob:; "
    b"object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_DATA_PREFIXES = ("/api/", "/healthz", "/readyz", "/metrics")
_NOT_FOUND = orjson.dumps({"error": {"code": "not_found", "message": "not found"}})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


def address_in(host: str | None, networks: tuple[Network, ...]) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, metrics_networks: Iterable[str]) -> None:
        self.app = app
        self.metrics_networks = parse_networks(metrics_networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == "/metrics" and not address_in(
            (scope.get("client") or (None,))[0], self.metrics_networks
        ):
            await _not_found(send)
            return
        csp = API_CSP if path.startswith(_DATA_PREFIXES) else PAGE_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in _COMMON if h[0] not in present)
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", csp))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _not_found(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_NOT_FOUND)).encode()),
                *_COMMON,
                (b"content-security-policy", API_CSP),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _NOT_FOUND})
