"""Where the shopper lands after a provider's page: `GET /payments/return`, and the status it
follows (`GET /api/v1/payments/status?ref=`).

The page is static (HTML + one script file, no CDN, no inline script, so a strict CSP holds)
and polls the status until the order is paid (or can no longer be). The status is keyed by
our reference at the provider (`ref`, 72 random bits), which every return URL carries and only
the shopper's browser and the provider know, so the page needs no login; it answers only the
state, never the order's contents, and is rate-limited per address.
"""

from __future__ import annotations

from importlib.resources import files

from sqlalchemy import select

from commerce.context import AppContext
from commerce.orders.models import Order
from commerce.payments.models import Payment
from commerce.payments.schemas import PaymentStatusOut
from shared.errors import NotFound
from shared.money import from_minor
from shared.settings import PAYMENT_PROVIDERS

ASSETS = files("commerce.payments") / "assets"
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def asset(name: str) -> bytes:
    return (ASSETS / name).read_bytes()


async def payment_status(ctx: AppContext, *, ref: str) -> PaymentStatusOut:
    async with ctx.sessions() as session:
        row = (await session.execute(
            select(Payment, Order.status)
            .join(Order, Order.id == Payment.order_id)
            # The unique (provider, provider_ref) index serves this IN-list lookup.
            .where(Payment.provider.in_(PAYMENT_PROVIDERS), Payment.provider_ref == ref)
        )).first()
    if row is None:
        raise NotFound("payment not found")
    payment, order_status = row
    return PaymentStatusOut(
        payment_id=payment.id, order_id=payment.order_id, status=payment.status,
        order_status=str(order_status), method=payment.method,
        amount=from_minor(payment.amount_minor), currency=payment.currency,
    )
