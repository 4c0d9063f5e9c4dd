"""`GET /`, `/watch/{id}`, `/host/{id}`, `/docs`, `/redoc` and `/assets/*`: the H5 pages.

Thin: each route fills one template's configuration tag and answers it with the CSP of
`commerce.web.csp`. Everything a page shows comes from the public API and the gateway, as for
any other client; the pages hold no server-side state and no cookies (tokens stay in the tab's
sessionStorage), so there is nothing here for CSRF to ride on.
"""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path
from typing import Annotated

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from commerce.web.csp import policy
from shared.settings import CommerceSettings

log = structlog.get_logger(__name__)

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
TEMPLATES = WEB_DIR / "templates"
STATIC = WEB_DIR / "static"
# Copied from npm packages by `make` (scripts/build_web.sh); not committed.
VENDOR_FILES = (
    "socket.io.esm.min.js",
    "hls.min.js",
    "swagger-ui-bundle.js",
    "swagger-ui.css",
    "redoc.standalone.js",
)

router = APIRouter(include_in_schema=False)
StreamId = Annotated[int, PathParam(ge=1, le=2**53 - 1)]


@functools.cache
def _template(name: str) -> str:
    """A page with the parts the pages share (`_head.html`, `_header.html`) filled in."""
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    for part in ("head", "header"):
        shared = (TEMPLATES / f"_{part}.html").read_text(encoding="utf-8")
        text = text.replace(f"%{part.upper()}%\n", shared)
    return text


def gateway_url(settings: CommerceSettings, request: Request) -> str:
    """Where the page's socket.io client connects ("" = the page's own origin)."""
    if settings.web_gateway_url:
        return settings.web_gateway_url.rstrip("/")
    if settings.web_gateway_port is not None:
        host = request.url.hostname or "127.0.0.1"
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        return f"{request.url.scheme}://{host}:{settings.web_gateway_port}"
    return ""


def _page(
    request: Request, name: str, *, remote_images: bool = True, **extra: object
) -> HTMLResponse:
    settings: CommerceSettings = request.app.state.settings
    gateway = gateway_url(settings, request)
    config = {"gateway": gateway, "api": "/api/v1", "sandbox": not settings.is_production}
    config.update(extra)
    body = _template(name).replace("%CONFIG%", html.escape(json.dumps(config), quote=True))
    video_host = "" if settings.streams.sandbox else settings.streams.cloudflare.customer_subdomain
    return HTMLResponse(
        body,
        # nosniff, DENY framing and no-referrer come from commerce.security_headers for every
        # answer; the CSP is the page's own (that middleware keeps a header a route set).
        headers={
            "Content-Security-Policy": policy(
                gateway_url=gateway, video_host=video_host, remote_images=remote_images
            ),
            "Cache-Control": "no-cache",
        },
    )


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    return _page(request, "home.html")


@router.get("/watch/{stream_id}", response_class=HTMLResponse)
async def watch(stream_id: StreamId, request: Request) -> HTMLResponse:
    return _page(request, "watch.html", stream_id=stream_id)


@router.get("/host/{stream_id}", response_class=HTMLResponse)
async def host(stream_id: StreamId, request: Request) -> HTMLResponse:
    return _page(request, "host.html", stream_id=stream_id)


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI from the pinned `swagger-ui-dist` package: works offline (no CDN)."""
    return _page(request, "docs.html", remote_images=False, openapi_url=request.app.openapi_url)


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc's standalone bundle from the pinned `redoc` package (offline)."""
    return _page(request, "redoc.html", remote_images=False, openapi_url=request.app.openapi_url)


def mount(app: FastAPI) -> None:
    """Serve the pages and their assets on `app` (FastAPI's own CDN-based docs are off)."""
    missing = [f for f in VENDOR_FILES if not (STATIC / "vendor" / f).is_file()]
    if missing:
        log.warning(
            "web_assets_missing", missing=missing, fix="run `make web` (needs Node.js and npm)"
        )
    app.include_router(router)
    app.mount("/assets", StaticFiles(directory=STATIC, check_dir=False), name="assets")
