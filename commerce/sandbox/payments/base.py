"""What every payment sandbox shares: its checkout page, the choice, and delivering to us.

Each provider's sandbox (a `ProviderSandbox`) serves that provider's documented API for our
adapter and a checkout page for the shopper. Choosing an outcome (on the page, or through
`POST /api/v1/sandbox/payments/{id}`) runs `complete`: the sandbox records the result and
sends the provider's own notification to the URL our adapter registered, into this very
application (in-process ASGI: no network, nothing listening needed), then sends the browser
where the provider would.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from commerce.sandbox.payments.pages import choose_page, error_page
from commerce.sandbox.payments.store import SandboxStore
from shared.settings import CommerceSettings

log = structlog.get_logger(__name__)

Outcome = Literal["paid", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("paid", "failed")
MOUNT = "/sandbox/payments"


@dataclass(frozen=True, slots=True)
class Completion:
    """What completing did: our webhook's HTTP status (None when the provider sends nothing,
    as LINE Pay on a cancel), whether it re-sent an earlier result, and where the browser
    goes next."""

    webhook_status: int | None
    redirect_url: str
    redelivered: bool = False


class SandboxConflict(Exception):
    """The payment was already completed the other way (paid, then failed, or back)."""


@dataclass(frozen=True, slots=True)
class Delivered:
    status: int
    location: str | None


async def deliver(app: ASGIApp, url: str, *, method: str = "POST", content: bytes = b"",
                  headers: dict[str, str] | None = None) -> Delivered:
    """Send a provider's request to our own `url` (its path and query) in-process."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox.local", timeout=30
    ) as client:
        resp = await client.request(method, target, content=content or None, headers=headers)
    log.info("payment_sandbox_delivered", target=parts.path, status=resp.status_code)
    return Delivered(resp.status_code, resp.headers.get("location"))


class ProviderSandbox(ABC):
    """One provider's sandbox. Subclasses add their API routes and implement `complete`."""

    name: str = ""
    title: str = ""

    def __init__(self, settings: CommerceSettings, store: SandboxStore) -> None:
        self.settings = settings
        self.store = store

    @property
    def base_url(self) -> str:
        """Where our adapter and the shopper's browser reach this sandbox."""
        return f"{self.settings.payments.public_base_url.rstrip('/')}{MOUNT}/{self.name}"

    @property
    def webhook_url(self) -> str:
        base = self.settings.payments.public_base_url.rstrip("/")
        return f"{base}/api/v1/payments/webhooks/{self.name}"

    def pay_url(self, ref: str) -> str:
        return f"{self.base_url}/pay/{ref}"

    def api_routes(self) -> list[BaseRoute]:
        return []

    def routes(self) -> list[BaseRoute]:
        return [
            *self.api_routes(),
            Route("/pay/{ref}", self._page, methods=["GET"]),
            Route("/pay/{ref}", self._choose, methods=["POST"]),
        ]

    async def trade(self, ref: str) -> dict[str, Any] | None:
        """The sandbox's record of our trade `ref` (at least amount, currency, description)."""
        return await self.store.get(self.name, ref)

    async def save(self, ref: str, trade: dict[str, Any]) -> None:
        await self.store.put(self.name, ref, trade)

    async def remember(self, kind: str, key: str, ref: str) -> None:
        """Index the trade `ref` under a provider id (a transaction or charge id)."""
        await self.store.put(f"{self.name}-{kind}", key, {"ref": ref})

    async def trade_by(self, kind: str, key: str) -> tuple[str, dict[str, Any]] | None:
        """The trade a provider id names, with its `ref`, or None."""
        index = await self.store.get(f"{self.name}-{kind}", key)
        trade = await self.trade(index["ref"]) if index else None
        return (index["ref"], trade) if index and trade else None

    async def checkout_page(self, ref: str, new: dict[str, Any]) -> Response:
        """The page for a checkout form the shopper posted: a repeat keeps the first trade."""
        trade = await self.trade(ref)
        if trade is None:
            trade = new
            await self.save(ref, trade)
        return self.page(ref, trade)

    async def decide(self, ref: str, outcome: Outcome) -> tuple[dict[str, Any], bool]:
        """The trade and whether it already had this outcome (a repeat re-sends the same
        result); `SandboxConflict` when it had the other one."""
        trade = await self.trade(ref)
        if trade is None:
            raise SandboxConflict("unknown payment")
        previous = trade.get("outcome")
        if previous is not None and previous != outcome:
            raise SandboxConflict(f"this payment was already completed as {previous}")
        return trade, previous is not None

    @abstractmethod
    async def complete(self, app: ASGIApp, ref: str, outcome: Outcome) -> Completion:
        """Settle the trade as `outcome` and deliver the provider's own notification to our
        webhook through `app` (each provider's wire format)."""

    def page(self, ref: str, trade: dict[str, Any]) -> Response:
        return choose_page(
            provider=self.title, ref=ref, amount=str(trade["amount"]),
            currency=str(trade["currency"]), description=str(trade.get("description", "")),
            # Relative: the page posts back to whichever host served it (nginx, a port).
            action_url=f"{MOUNT}/{self.name}/pay/{ref}",
            qr_png_base64=trade.get("qr_png_base64"),
        )

    async def _page(self, request: Request) -> Response:
        ref = request.path_params["ref"]
        trade = await self.trade(ref)
        if trade is None:
            return error_page("unknown payment", 404)
        return self.page(ref, trade)

    async def _choose(self, request: Request) -> Response:
        ref = request.path_params["ref"]
        outcome = (await request.form()).get("outcome")
        if outcome not in OUTCOMES:
            return error_page("choose paid or failed for a known payment", 400)
        try:
            done = await self.complete(request.app, ref, outcome)
        except SandboxConflict as exc:
            return error_page(str(exc), 409)
        return RedirectResponse(done.redirect_url, status_code=303)


def refundable(amount: object, trade: dict[str, Any]) -> int | None:
    """`amount` (whole units, as text or a number) if it is positive and at most what is left
    of the trade's whole-unit `amount` after its `refunded`; else None."""
    text = str(amount)
    if not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value <= int(trade["amount"]) - int(trade["refunded"]) else None
