"""Payment attempts: create one for an order (refunds are in `refunds.py`).

Provider calls never happen inside a database transaction (a slow provider must not hold row
locks): the attempt is committed as `created` first, the provider is called, and the outcome
is written in a second short transaction. Settlement of notifications is in `settlement.py`.
"""

from __future__ import annotations

import secrets

import structlog
from sqlalchemy import update

from commerce.context import AppContext
from commerce.db import utcnow
from commerce.orders import service as order_service
from commerce.orders.models import Order
from commerce.payments import settlement, tasks
from commerce.payments.gateways.base import PaymentRequest
from commerce.payments.gateways.registry import build, provider_for
from commerce.payments.models import Payment
from commerce.payments.schemas import PaymentCreate, PaymentOut
from shared.errors import Conflict, Forbidden
from shared.money import from_minor
from shared.tokens import Principal

log = structlog.get_logger(__name__)


def new_trade_no() -> str:
    """Our reference at the provider: 20 upper-case alphanumerics (ECPay's limit)."""
    return "LC" + secrets.token_hex(9).upper()


def payment_out(payment: Payment) -> PaymentOut:
    return PaymentOut(
        payment_id=payment.id,
        status=payment.status,
        provider=payment.provider,
        method=payment.method,
        amount=from_minor(payment.amount_minor),
        currency=payment.currency,
        action=payment.action or {},
    )


async def create_payment(
    ctx: AppContext, *, order_id: int, principal: Principal, body: PaymentCreate
) -> PaymentOut:
    """Start paying a `pending_payment` order (owner only) with `body.method`."""
    settings = ctx.settings
    async with ctx.sessions() as session, session.begin():
        view = await order_service.visible_order(session, order_id=order_id, principal=principal)
        if view.buyer_id != principal.user_id:
            raise Forbidden("only the buyer can pay for an order")
        order = await session.get(Order, order_id)
        assert order is not None
        if order.status != "pending_payment" or order.expires_at <= utcnow():
            raise Conflict(
                "the order is not awaiting payment", code="order_not_payable",
                details={"status": order.status},
            )
        provider = provider_for(settings, body.method, order.currency)
        payment = Payment(
            order_id=order.id, provider=provider, method=body.method, status="created",
            amount_minor=order.total_minor, currency=order.currency,
            provider_ref=new_trade_no(),
        )
        session.add(payment)
        await session.flush()
        payment_id, amount, currency = payment.id, order.total_minor, order.currency
        ref = payment.provider_ref
    base = settings.payments.public_base_url.rstrip("/")
    back = f"{settings.payments.return_url}?order_id={order_id}&payment_id={payment_id}&ref={ref}"
    request = PaymentRequest(
        trade_no=ref, method=body.method, amount_minor=amount, currency=currency,
        description=f"Order {order_id}", notify_url=f"{base}/api/v1/payments/webhooks/{provider}",
        return_url=back, cancel_url=f"{back}&cancelled=1", token=body.token,
        phone_number=body.phone_number,
    )
    try:
        created = await build(settings, provider).create_payment(request)
    except Exception:
        await _set(ctx, payment_id, status="failed")
        raise
    await _set(ctx, payment_id, status="pending", action=created.action,
               provider_txn_id=created.provider_txn_id)
    if created.settled is not None:  # the provider's answer was the result: settle it as one
        notification_id, new = await settlement.store_notification(ctx, provider, created.settled)
        if new:
            await tasks.enqueue_notification(ctx, notification_id)
    async with ctx.sessions() as session:
        stored = await session.get(Payment, payment_id)
        assert stored is not None
        return payment_out(stored)


async def _set(ctx: AppContext, payment_id: int, **values: object) -> None:
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(Payment).where(Payment.id == payment_id).values(updated_at=utcnow(), **values)
        )
