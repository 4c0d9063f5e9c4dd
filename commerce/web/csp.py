"""The pages' Content-Security-Policy: no inline or eval'd script, talk only to our services.

Scripts come only from our own origin (`script-src 'self'`, no `unsafe-inline`): every page
loads its code from `/assets/`, and its configuration travels in a `<meta>` tag read as data,
so an injected `<script>` in a chat message or product name could not run even if escaping
failed. Styles may be inline (Swagger UI and ReDoc set `style` attributes); that cannot run code.
`connect-src` adds the socket.io gateway when it is on another origin (the embedded default
serves it on another port), and the video host for HLS; `form-action` allows a payment
provider's form post (`action.type == "form_post"`), which is always https outside the sandbox.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of an absolute URL, or "" for a relative one."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def policy(*, gateway_url: str, video_host: str, remote_images: bool = True) -> str:
    """`remote_images`: product pictures may live on a CDN or R2 domain; the API docs have none,
    and ReDoc's attribution logo (hard-wired to its CDN) is refused rather than fetched."""
    connect = ["'self'"]
    gateway = origin_of(gateway_url)
    if gateway:
        connect += [gateway, gateway.replace("http", "ws", 1)]
    media = ["'self'", "blob:"]
    if video_host:
        connect.append(f"https://{video_host}")
        media.append(f"https://{video_host}")
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:", *(["https:"] if remote_images else [])],
        "font-src": ["'self'", "data:"],
        "media-src": media,
        "connect-src": connect,
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'", "https:"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())
