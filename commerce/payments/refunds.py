"""Refunds by line: a seller gives back their own lines' money, an admin any line's, through
the provider that took the payment (a partial refund unless every line goes back at once).

Three short steps, no provider call inside a transaction (a slow provider must not hold locks):

1. claim: a `refunds` row (`pending`) and the lines pointing at it, set by a conditional
   `UPDATE order_items SET refund_id ... WHERE refund_id IS NULL`, so a line is refunded once
   even when two refunds race; the amount is checked against what the payment has left;
2. the provider's refund call for exactly that amount (each adapter's documented call);
3. settle: the refund `succeeded`, the lines' units back to stock through the state table
   (`state.release_lines`, or the `refunded` transition when no line is left), the order's new
   status and the `order.refunded` event in one transaction. A provider failure releases the
   claim instead (`failed`), so the caller may try again.

Money recorded as `needs_refund` (it arrived for an order that expired, was cancelled or was
paid twice) is refunded whole first and leaves the order as it is.
"""

from __future__ import annotations

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.context import AppContext
from commerce.db import utcnow
from commerce.inventory import stock
from commerce.orders import service as order_service
from commerce.orders import state
from commerce.orders.errors import InvalidTransition
from commerce.orders.fulfilment import lock_order, settle_fulfilment
from commerce.orders.models import OrderItem
from commerce.orders.schemas import OrderOut, RefundIn
from commerce.outbox import add_event
from commerce.payments.gateways.base import RefundResult
from commerce.payments.gateways.registry import build
from commerce.payments.models import Payment, Refund
from shared import events as ev
from shared.errors import Conflict, Forbidden, InvalidInput
from shared.tokens import Principal

log = structlog.get_logger(__name__)

REFUNDABLE = ("paid", "fulfilled")


async def refund(
    ctx: AppContext, *, order_id: int, principal: Principal, body: RefundIn
) -> OrderOut:
    """Refund `body.product_ids` (default: every line the caller may refund) of the order."""
    async with ctx.sessions() as session, session.begin():
        await order_service.visible_order(session, order_id=order_id, principal=principal)
        # Lock first: a concurrent refund or shipment of this order commits before we read.
        order = await lock_order(session, order_id)
        lines = list(await session.scalars(
            select(OrderItem).where(OrderItem.order_id == order_id).order_by(OrderItem.id)
            .execution_options(populate_existing=True)
        ))
        is_admin = principal.role == "admin"
        if not is_admin and all(line.seller_id != principal.user_id for line in lines):
            raise Forbidden("only a seller of the order's items or an admin can refund it")
        stray = await _claim_stray(session, order_id)
        if stray is not None:
            chosen: list[OrderItem] = []
        else:
            if order.status not in REFUNDABLE:
                raise InvalidTransition(details={"status": order.status, "to": "refunded"})
            chosen = _choose(lines, principal, body.product_ids, is_admin=is_admin)
            payment = await _paying(session, order_id)
            claim = await _claim_lines(session, order_id, payment, chosen, principal, body.reason)
        stream_id, currency = order.stream_id, order.currency
    if stray is not None:
        return await _refund_stray(ctx, stray, order_id=order_id, principal=principal)
    try:
        result = await _call_provider(ctx, payment, claim.amount_minor)
    except Exception:
        await _release_claim(ctx, claim.id)
        raise
    async with ctx.sessions() as session, session.begin():
        order = await lock_order(session, order_id)
        product_ids = sorted(line.product_id for line in chosen)
        left = await session.scalar(
            select(func.count()).select_from(OrderItem)
            .where(OrderItem.order_id == order_id, OrderItem.refund_id.is_(None))
        )
        if left == 0:
            moved = await state.transition(session, order_id, "refunded")
            released, status = moved.released, ("refunded" if moved.matched else order.status)
        else:
            released = await state.release_lines(
                session, order_id, stream_id=stream_id, product_ids=product_ids
            )
            status = await settle_fulfilment(session, order, now=utcnow())
        await session.execute(
            update(Refund).where(Refund.id == claim.id).values(
                status="succeeded", provider_refund_id=result.provider_refund_id[:64],
                updated_at=utcnow(),
            )
        )
        if await _refunded_total(session, payment.id) >= payment.amount_minor:
            await session.execute(
                update(Payment).where(Payment.id == payment.id).values(
                    status="refunded", provider_refund_id=result.provider_refund_id[:64],
                    updated_at=utcnow(),
                )
            )
        add_event(session, ev.OrderRefunded(
            stream_id=stream_id,
            data=ev.OrderRefundedData(
                order_id=order_id, buyer_id=order.buyer_id, status=status,
                product_ids=product_ids, amount_minor=claim.amount_minor, currency=currency,
            ),
        ))
    if status not in ("refunded", *REFUNDABLE):  # completed meanwhile: money went back anyway
        log.error("refund_order_moved", order_id=order_id, status=status)
    await stock.after_commit(ctx.stock_gate, released=released, buyer_id=order.buyer_id)
    log.info("order_lines_refunded", order_id=order_id, refund_id=claim.id,
             amount_minor=claim.amount_minor, status=status, provider=payment.provider)
    async with ctx.sessions() as session:
        return await order_service.visible_order(session, order_id=order_id, principal=principal)


def _choose(
    lines: list[OrderItem], principal: Principal, product_ids: list[int] | None, *,
    is_admin: bool,
) -> list[OrderItem]:
    """The lines to refund: the named ones (each must be the caller's unless admin, and not
    refunded yet), or by default every unrefunded line the caller may refund."""
    mine = [line for line in lines if is_admin or line.seller_id == principal.user_id]
    if product_ids is None:
        chosen = [line for line in mine if line.refund_id is None]
        if not chosen:
            raise Conflict("these lines are already refunded", code="already_refunded")
        return chosen
    by_product = {line.product_id: line for line in lines}
    unknown = [pid for pid in product_ids if pid not in by_product]
    if unknown:
        raise InvalidInput("the order has no such lines", code="unknown_lines",
                           details={"product_ids": unknown})
    theirs = [pid for pid in product_ids if by_product[pid] not in mine]
    if theirs:
        raise Forbidden("a seller can refund only their own lines",
                        details={"product_ids": theirs})
    done = [pid for pid in product_ids if by_product[pid].refund_id is not None]
    if done:
        raise Conflict("some lines are already refunded", code="already_refunded",
                       details={"product_ids": done})
    return [by_product[pid] for pid in product_ids]


async def _paying(session: AsyncSession, order_id: int) -> Payment:
    """The payment that paid the order (succeeded, not stray money)."""
    payment = await session.scalar(
        select(Payment)
        .where(Payment.order_id == order_id, Payment.status == "succeeded",
               Payment.needs_refund.is_(False))
        .order_by(Payment.id.desc())
        .limit(1)
    )
    if payment is None:
        raise Conflict("no payment left to refund for this order", code="nothing_to_refund")
    return payment


async def _refunded_total(session: AsyncSession, payment_id: int) -> int:
    """What the payment has given back or is giving back (pending refunds count)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount_minor), 0))
        .where(Refund.payment_id == payment_id, Refund.status != "failed")
    )
    return int(total or 0)


async def _claim_lines(
    session: AsyncSession, order_id: int, payment: Payment, lines: list[OrderItem],
    principal: Principal, reason: str,
) -> Refund:
    amount = sum(line.unit_price_minor * line.quantity for line in lines)
    already = await _refunded_total(session, payment.id)
    if amount + already > payment.amount_minor:
        raise Conflict(
            "refunding these lines would give back more than was paid",
            code="refund_exceeds_payment",
            details={"paid": payment.amount_minor, "refunded": already, "asked": amount},
        )
    claim = Refund(
        order_id=order_id, payment_id=payment.id, requested_by=principal.user_id, reason=reason,
        status="pending", amount_minor=amount, currency=payment.currency,
        product_ids=sorted(line.product_id for line in lines),
    )
    session.add(claim)
    await session.flush()
    marked = await session.execute(
        update(OrderItem)
        .where(OrderItem.id.in_([line.id for line in lines]), OrderItem.refund_id.is_(None))
        .values(refund_id=claim.id)
        .execution_options(synchronize_session=False)
    )
    if marked.rowcount != len(lines):  # type: ignore[attr-defined]
        raise Conflict("some lines are already being refunded", code="already_refunded")
    return claim


async def _call_provider(ctx: AppContext, payment: Payment, amount_minor: int) -> RefundResult:
    return await build(ctx.settings, payment.provider).refund(
        provider_ref=payment.provider_ref, provider_txn_id=payment.provider_txn_id,
        amount_minor=amount_minor, currency=payment.currency,
    )


async def _release_claim(ctx: AppContext, refund_id: int) -> None:
    """The provider said no (or nothing): the lines are refundable again."""
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(OrderItem).where(OrderItem.refund_id == refund_id).values(refund_id=None)
        )
        await session.execute(
            update(Refund).where(Refund.id == refund_id).values(status="failed",
                                                               updated_at=utcnow())
        )


async def _claim_stray(session: AsyncSession, order_id: int) -> Payment | None:
    """Claim (`succeeded -> refunding`, conditional) money recorded as `needs_refund`."""
    payment = await session.scalar(
        select(Payment)
        .where(Payment.order_id == order_id, Payment.status == "succeeded",
               Payment.needs_refund.is_(True))
        .order_by(Payment.id)
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


async def _refund_stray(
    ctx: AppContext, payment: Payment, *, order_id: int, principal: Principal
) -> OrderOut:
    """Give stray money back whole; the order's status and stock are not its business."""
    try:
        result = await _call_provider(ctx, payment, payment.amount_minor)
    except Exception:
        await _set_payment(ctx, payment.id, status="succeeded")  # release the claim
        raise
    await _set_payment(ctx, payment.id, status="refunded", needs_refund=False,
                       provider_refund_id=result.provider_refund_id[:64])
    log.info("payment_refunded", order_id=order_id, payment_id=payment.id)
    async with ctx.sessions() as session:
        return await order_service.visible_order(session, order_id=order_id, principal=principal)


async def _set_payment(ctx: AppContext, payment_id: int, **values: object) -> None:
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(Payment).where(Payment.id == payment_id).values(updated_at=utcnow(), **values)
        )
