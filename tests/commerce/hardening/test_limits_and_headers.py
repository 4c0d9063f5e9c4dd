"""Request-head limits on the real server (raw sockets), upload limits that agree with the
ticket, security headers on every answer, and `/metrics` only for allowed networks."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from commerce.context import AppContext
from shared.settings import CommerceSettings
from tests.commerce.factories import make_product, make_user
from tests.helpers.live_api import live_api


@pytest.fixture
def commerce_settings(commerce_settings: CommerceSettings, tmp_path: Path) -> CommerceSettings:
    return commerce_settings.updated(
        **{
            "media": {"backend": "local", "local_dir": tmp_path},
            "http_header_timeout_s": 0.5,
            "http_max_header_bytes": 16 * 1024,
            "http_max_headers": 50,
        }
    )


async def _raw(base: str, payload: bytes, *, then_wait: bool = False) -> tuple[bytes, float]:
    """Send `payload` on a fresh connection; return what the server said and how long it took
    to close the connection (the read ends at EOF)."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        writer.write(payload)
        await writer.drain()
    except ConnectionError:
        pass  # the server may close before reading everything we wrote
    async with asyncio.timeout(10):
        answer = await reader.read()  # until the server closes the connection
    writer.close()
    return answer, loop.time() - started


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


async def test_request_head_limits_on_a_raw_socket(
    commerce_settings: CommerceSettings, ctx: AppContext
) -> None:
    async with live_api(commerce_settings, ctx) as base:
        huge = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
        answer, _ = await _raw(base, huge)
        assert _status(answer) == 431
        assert orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == (
            "headers_too_large"
        )

        many = b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + b"".join(
            b"X-H%d: v\r\n" % i for i in range(10_000)
        ) + b"\r\n"
        answer, _ = await _raw(base, many)
        assert _status(answer) == 431

        # A head that never ends is answered 408 and closed once the header timeout passes.
        answer, took = await _raw(base, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        assert _status(answer) == 408
        assert took >= 0.4

        # The same connection limits leave normal requests (and keep-alive) alone.
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(3):
                ok = await client.get("/healthz", headers={f"X-H{i}": "v" * 100 for i in range(40)})
                assert ok.status_code == 200


async def test_local_uploads_take_what_the_ticket_advertises(
    commerce_settings: CommerceSettings, ctx: AppContext
) -> None:
    async with live_api(commerce_settings, ctx) as base, httpx.AsyncClient(base_url=base) as api:
        seller, headers = await make_user(ctx, "seller")
        product = await make_product(ctx, seller)
        ticket = (
            await api.post(
                f"/api/v1/products/{product.id}/images", json={"content_type": "image/png"},
                headers=headers,
            )
        ).json()
        assert ticket["max_bytes"] == commerce_settings.media.max_upload_bytes
        assert ticket["max_bytes"] > commerce_settings.max_body_bytes
        target = urlsplit(ticket["upload_url"])
        path = f"{target.path}?{target.query}"
        body = b"\x89PNG\r\n\x1a\n" + os.urandom(2_400_000)  # larger than the 1 MB JSON limit
        stored = await api.put(path, content=body, headers=ticket["headers"])
        assert stored.status_code == 200, stored.text
        too_big = await api.put(
            path, content=b"\x00" * (ticket["max_bytes"] + 1), headers=ticket["headers"]
        )
        assert too_big.status_code == 413
        # Other routes keep the default body limit.
        big_json = await api.post(
            "/api/v1/products", content=b'{"name":"' + b"x" * 1_200_000 + b'"}', headers=headers
        )
        assert big_json.status_code == 413


@pytest.mark.parametrize(
    ("path", "csp_start"),
    [
        ("/api/v1/products", b"default-src 'none'"),
        ("/api/v1/nope", b"default-src 'none'"),
        ("/api/v1/orders", b"default-src 'none'"),  # 401
        ("/healthz", b"default-src 'none'"),
        ("/docs", b"default-src 'self'"),
        ("/openapi.json", b"default-src 'self'"),
        # The H5 pages too ("on every API response and page").
        ("/", b"default-src 'self'"),
        ("/watch/1", b"default-src 'self'"),
        ("/host/1", b"default-src 'self'"),
    ],
)
async def test_security_headers_on_every_answer(
    commerce_settings: CommerceSettings, ctx: AppContext, path: str, csp_start: bytes
) -> None:
    async with live_api(commerce_settings, ctx) as base, httpx.AsyncClient(base_url=base) as api:
        response = await api.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        csp = response.headers["content-security-policy"].encode()
        assert csp.startswith(csp_start) and b"frame-ancestors 'none'" in csp
        assert len(response.headers.get_list("x-frame-options")) == 1


async def test_metrics_only_for_allowed_networks(
    commerce_settings: CommerceSettings, ctx: AppContext
) -> None:
    async with live_api(commerce_settings, ctx) as base, httpx.AsyncClient(base_url=base) as api:
        assert (await api.get("/metrics")).status_code == 200  # loopback (Prometheus here)
        # A public client forwarded by the trusted proxy (nginx on loopback) is refused.
        forwarded = await api.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert forwarded.status_code == 404
        assert forwarded.json()["error"]["code"] == "not_found"
        assert forwarded.headers["x-content-type-options"] == "nosniff"
    closed = commerce_settings.model_copy(update={"metrics_allowed_networks": []})
    async with live_api(closed, ctx) as base, httpx.AsyncClient(base_url=base) as api:
        assert (await api.get("/metrics")).status_code == 404
