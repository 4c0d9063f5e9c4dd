"""The payment sandboxes, built from settings: routes to mount and a transport for adapters.

The API mounts the sandboxes of the providers that use them at `/sandbox/payments/<provider>`
(pages for the shopper, the provider's API for anyone). Adapters reach the same code through
`transport()`, an in-process ASGI transport: no network and no listening server, so it works
in the API, in a Celery worker and under test clients alike; the records are shared in Redis.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from commerce.sandbox.payments.base import MOUNT, ProviderSandbox
from commerce.sandbox.payments.ecpay import EcpaySandbox
from commerce.sandbox.payments.linepay import LinepaySandbox
from commerce.sandbox.payments.newebpay import NewebpaySandbox
from commerce.sandbox.payments.omise import OmiseSandbox
from commerce.sandbox.payments.store import SandboxStore
from commerce.sandbox.payments.tappay import TappaySandbox
from commerce.sandbox.payments.twoc2p import MAINTENANCE_PATH, TwoC2PSandbox
from shared.settings import CommerceSettings

KINDS: tuple[type[ProviderSandbox], ...] = (
    EcpaySandbox, NewebpaySandbox, LinepaySandbox, OmiseSandbox, TwoC2PSandbox, TappaySandbox,
)


def sandboxes(settings: CommerceSettings) -> dict[str, ProviderSandbox]:
    """The sandbox of every provider that uses one under these settings."""
    store = SandboxStore(settings.redis_url)
    return {
        kind.name: kind(settings, store)
        for kind in KINDS
        if kind.name in settings.payments.enabled and settings.uses_local_sandbox(kind.name)
    }


def _routes(settings: CommerceSettings) -> list[BaseRoute]:
    return [Mount(f"/{name}", routes=box.routes()) for name, box in sandboxes(settings).items()]


def mount(app: FastAPI, settings: CommerceSettings) -> None:
    """Serve the sandboxes in the API (development only: production never calls this).

    Mounted as routes, not as a sub-application, so a page's handler sees this app as
    `request.app` and can deliver the provider's notification into it."""
    if settings.is_production:
        raise RuntimeError("payment sandboxes are never mounted in production")
    routes = _routes(settings)
    if routes:
        app.router.routes.append(Mount(MOUNT, routes=routes))


def transport(settings: CommerceSettings) -> httpx.AsyncBaseTransport:
    """An in-process transport to the sandboxes, for the adapters' server-to-server calls."""
    return httpx.ASGITransport(app=Starlette(routes=[Mount(MOUNT, routes=_routes(settings))]))


def base_url(settings: CommerceSettings, provider: str) -> str:
    return f"{settings.payments.public_base_url.rstrip('/')}{MOUNT}/{provider}"


def twoc2p_maintenance_url(settings: CommerceSettings) -> str:
    return base_url(settings, "twoc2p") + MAINTENANCE_PATH
