"""Payment attempts: create one for an order, and refund a paid order through its provider.

Provider calls never happen inside a database transaction (a slow provider must not hold row
locks): the attempt is committed as `created` first, the provider is called, and the outcome
is written in a second short transaction. Settlement of notifications is in `settlement.py`.
"""

from __future__ import annotations

import secrets

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.context import AppContext
from commerce.db import utcnow
from commerce.orders import reservations, state
from commerce.orders import service as order_service
from commerce.orders.errors import InvalidTransition
from commerce.orders.models import Order, OrderItem
from commerce.orders.schemas import OrderOut
from commerce.payments.errors import PaymentProviderError
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
    provider = provider_for(settings, body.method)
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
        payment = Payment(
            order_id=order.id, provider=provider, method=body.method, status="created",
            amount_minor=order.total_minor, currency=order.currency,
            provider_ref=new_trade_no(),
        )
        session.add(payment)
        await session.flush()
        payment_id, amount, currency = payment.id, order.total_minor, order.currency
        ref = payment.provider_ref
    base = settings.payments_public_base_url.rstrip("/")
    back = f"{settings.payments_return_url}?order_id={order_id}&payment_id={payment_id}"
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
    async with ctx.sessions() as session:
        stored = await session.get(Payment, payment_id)
        assert stored is not None
        return payment_out(stored)


async def _set(ctx: AppContext, payment_id: int, **values: object) -> None:
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(Payment).where(Payment.id == payment_id).values(updated_at=utcnow(), **values)
        )


async def _claim_refund(session: AsyncSession, order_id: int) -> Payment | None:
    """Move a succeeded payment of the order to `refunding` (conditional: one caller wins).

    Payments recorded as `needs_refund` (money for an order that expired, was cancelled or
    was already paid by another attempt) come first; then the one that paid the order.
    """
    payment = await session.scalar(
        select(Payment)
        .where(Payment.order_id == order_id, Payment.status == "succeeded")
        .order_by(Payment.needs_refund.desc(), Payment.id.desc())
        .limit(1)
    )
    if payment is None:
        return None
    claimed = await session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.status == "succeeded")
        .values(status="refunding", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return payment if claimed.rowcount else None  # type: ignore[attr-defined]


async def refund_order(ctx: AppContext, *, order_id: int, principal: Principal) -> OrderOut:
    """Refund through the provider (sellers of the order's items and admins only).

    A paid order moves to `refunded` and its stock returns (a `paid` order has not shipped).
    Money recorded as `needs_refund` is refunded first and leaves the order as it is, so an
    expired order that was paid late can be made whole through the same route.
    """
    async with ctx.sessions() as session, session.begin():
        view = await order_service.visible_order(session, order_id=order_id, principal=principal)
        sellers = {item.seller_id for item in view.items}
        if principal.role != "admin" and principal.user_id not in sellers:
            raise Forbidden("only a seller of the order's items or an admin can refund it")
        payment = await _claim_refund(session, order_id)
        if payment is None or (view.status != "paid" and not payment.needs_refund):
            raise InvalidTransition(details={"status": view.status, "to": "refunded"})
        ids = (payment.id, payment.provider, payment.provider_ref, payment.provider_txn_id,
               payment.amount_minor, payment.currency, payment.needs_refund)
    payment_id, provider, ref, txn, amount, currency, orphan = ids
    try:
        result = await build(ctx.settings, provider).refund(
            provider_ref=ref, provider_txn_id=txn, amount_minor=amount, currency=currency
        )
    except Exception:
        await _set(ctx, payment_id, status="succeeded")  # release the claim
        raise
    done = {"status": "refunded", "provider_refund_id": result.provider_refund_id,
            "needs_refund": False}
    if orphan:
        await _set(ctx, payment_id, **done)
        log.info("payment_refunded", order_id=order_id, payment_id=payment_id)
        async with ctx.sessions() as session:
            return await order_service.visible_order(
                session, order_id=order_id, principal=principal
            )
    async with ctx.sessions() as session, session.begin():
        moved = await state.transition(session, order_id, "refunded", expected_from="paid")
        await session.execute(
            update(Payment).where(Payment.id == payment_id).values(updated_at=utcnow(), **done)
        )
        if moved.matched and "refunded" not in state.RELEASES_STOCK:
            moved.released = await _order_lines(session, order_id)
            order = await session.get(Order, order_id)
            await reservations.release(
                session, lines=moved.released, stream_id=order.stream_id if order else None
            )
    if not moved.matched:  # the provider refunded, but the order moved meanwhile: record it
        log.error("refund_order_moved", order_id=order_id, payment_id=payment_id)
        raise PaymentProviderError("refunded at the provider, but the order changed meanwhile",
                                   code="refund_order_conflict", status=409)
    await reservations.after_commit(ctx, released=moved.released)
    log.info("order_refunded", order_id=order_id, payment_id=payment_id, provider=provider)
    async with ctx.sessions() as session:
        return await order_service.visible_order(session, order_id=order_id, principal=principal)


async def _order_lines(session: AsyncSession, order_id: int) -> dict[int, int]:
    lines: dict[int, int] = {}
    rows = await session.execute(
        select(OrderItem.product_id, OrderItem.quantity).where(OrderItem.order_id == order_id)
    )
    for pid, qty in rows.all():
        lines[int(pid)] = lines.get(int(pid), 0) + int(qty)
    return lines
