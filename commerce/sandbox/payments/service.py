"""`POST /api/v1/sandbox/payments/{id}`: what a shopper does on the sandbox page, for scripts.

It does what the shopper's browser would: open the payment's `action` (post the form, follow
the redirect; a QR needs nothing), then choose the outcome, which makes the provider's sandbox
deliver its signed notification to our webhook. Only the order's buyer may do it; anyone
else's payment is 404, as everywhere else.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp

from commerce.context import AppContext
from commerce.orders.models import Order
from commerce.payment_wire.phpurl import php_build_query
from commerce.payments.models import Payment
from commerce.sandbox.payments.base import MOUNT, Outcome, SandboxConflict, deliver
from commerce.sandbox.payments.providers import sandboxes
from commerce.sandbox.payments.schemas import SandboxPaymentOut
from shared.errors import Conflict, NotFound
from shared.tokens import Principal


async def open_action(app: ASGIApp, action: dict[str, Any]) -> None:
    """Do with `action` what the shopper's browser does, inside this app."""
    url = str(action.get("url", ""))
    if not urlsplit(url).path.startswith(MOUNT + "/"):
        return  # a QR (nothing to open) or a page that is not a sandbox's
    if action.get("type") == "form_post":
        fields = action.get("fields") or {}
        await deliver(app, url, content=php_build_query(fields.items()).encode(),
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    elif action.get("type") == "redirect":
        await deliver(app, url, method="GET")


async def complete_payment(
    ctx: AppContext, app: ASGIApp, *, payment_id: int, principal: Principal, outcome: Outcome
) -> SandboxPaymentOut:
    async with ctx.sessions() as session:
        payment = await session.get(Payment, payment_id)
        order = await session.get(Order, payment.order_id) if payment else None
    if payment is None or order is None or order.buyer_id != principal.user_id:
        raise NotFound("payment not found")
    box = sandboxes(ctx.settings).get(payment.provider)
    if box is None:
        raise Conflict(f"{payment.provider} is not running as a local sandbox here",
                       code="sandbox_not_active")
    ref = payment.provider_ref
    if await box.trade(ref) is None:
        await open_action(app, payment.action or {})
        if await box.trade(ref) is None:
            raise Conflict("the provider's sandbox never saw this payment",
                           code="sandbox_payment_unknown", details={"status": payment.status})
    try:
        done = await box.complete(app, ref, outcome)
    except SandboxConflict as exc:
        raise Conflict(str(exc), code="sandbox_already_completed") from exc
    return SandboxPaymentOut(
        payment_id=payment_id, provider=payment.provider, outcome=outcome,
        webhook_status=done.webhook_status, redelivered=done.redelivered,
    )
