"""Safety nets for notifications that never came or never got processed (a beat task).

1. A verified notification whose task never ran (the broker was down at enqueue, the worker
   died, LINE Pay's confirm timed out) is re-enqueued once it is older than a grace period;
   settlement is idempotent, so a late original run does no harm.
2. A payment still `pending` after `payments_query_after_s`, whose provider documents a status
   query (ECPay `QueryTradeInfo`, Omise `GET /charges/{id}`, 2C2P `paymentInquiry`), is asked
   about; a success is recorded as a notification of its own and settled the same way, so an
   ECPay `ReturnURL` that was lost still pays the order.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import select

from commerce.context import AppContext
from commerce.db import utcnow
from commerce.orders.models import Order
from commerce.payment_wire.wire_errors import WireFormatError
from commerce.payments import settlement
from commerce.payments.errors import PaymentProviderError
from commerce.payments.gateways.registry import build
from commerce.payments.models import Payment, PaymentNotification

log = structlog.get_logger(__name__)

QUERYABLE = ("ecpay", "omise", "twoc2p")
REENQUEUE_AFTER = timedelta(seconds=60)


async def stale_notifications(
    ctx: AppContext, *, now: datetime | None = None, limit: int = 200
) -> list[int]:
    """Ids of stored notifications nobody has processed for a while."""
    cutoff = (now or utcnow()) - REENQUEUE_AFTER
    async with ctx.sessions() as session:
        rows = await session.scalars(
            select(PaymentNotification.id)
            .where(PaymentNotification.processed_at.is_(None),
                   PaymentNotification.received_at < cutoff)
            .order_by(PaymentNotification.id)
            .limit(limit)
        )
        return [int(i) for i in rows.all()]


async def query_pending(
    ctx: AppContext, *, now: datetime | None = None, limit: int = 50
) -> list[int]:
    """Ask providers about old pending payments of still-payable orders; returns the ids of
    notifications recorded from successful answers (to be settled like any other)."""
    cutoff = (now or utcnow()) - timedelta(seconds=ctx.settings.payments.query_after_s)
    enabled = [p for p in QUERYABLE if p in ctx.settings.payments.enabled]
    async with ctx.sessions() as session:
        payments = (
            await session.scalars(
                select(Payment)
                .join(Order, Order.id == Payment.order_id)
                .where(Payment.status == "pending", Payment.provider.in_(enabled),
                       Payment.created_at < cutoff, Order.status == "pending_payment")
                .order_by(Payment.id)
                .limit(limit)
            )
        ).all()
    recorded: list[int] = []
    for payment in payments:
        try:
            facts = await build(ctx.settings, payment.provider).query(
                provider_ref=payment.provider_ref, provider_txn_id=payment.provider_txn_id,
                amount_minor=payment.amount_minor, currency=payment.currency,
            )
        except (PaymentProviderError, WireFormatError) as exc:
            log.warning("payment_query_failed", payment_id=payment.id, reason=str(exc))
            continue
        if facts.status != "succeeded" or facts.provider_ref != payment.provider_ref:
            continue
        notification_id, new = await settlement.store_notification(
            ctx, payment.provider, facts
        )
        if new:
            recorded.append(notification_id)
            log.info("payment_found_by_query", payment_id=payment.id,
                     notification_id=notification_id)
    return recorded
