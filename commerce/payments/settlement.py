"""Settlement of stored notifications (the `payments.process_notification` task's body).

`webhooks.py` verified and stored the notification; this module decides, in one transaction
with the payment row locked: amount and currency must match the payment (which copied the
order's total), then the order moves `pending_payment → paid` through the state machine,
which publishes `order.paid`. A processed notification is never processed again; money for
an order that can no longer be paid (expired, cancelled, already paid) is recorded as
`needs_refund`, not lost.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.context import AppContext
from commerce.db import utcnow
from commerce.orders import state
from commerce.orders.models import Order
from commerce.payments.gateways.base import ParsedNotification
from commerce.payments.gateways.registry import build
from commerce.payments.models import Payment, PaymentNotification

log = structlog.get_logger(__name__)


async def store_notification(
    ctx: AppContext, provider: str, parsed: ParsedNotification,
    *, then: Callable[[AsyncSession, int], None] | None = None,
) -> tuple[int, bool]:
    """Insert a verified notification once; returns its id and whether it is new (and so
    must be enqueued). `then(session, id)` runs in the same transaction for a new one (the
    task intent: commerce/task_outbox.py). A duplicate is never enqueued again from here: while
    the first task is in flight that would only race it, and one lost to a crash is re-enqueued
    by `reconcile.stale_notifications` a minute later."""
    try:
        async with ctx.sessions() as session, session.begin():
            payment_id = await session.scalar(
                select(Payment.id).where(
                    Payment.provider == provider, Payment.provider_ref == parsed.provider_ref
                )
            )
            row = PaymentNotification(
                provider=provider, provider_event_id=parsed.provider_event_id[:128],
                payment_id=payment_id, provider_ref=parsed.provider_ref[:64],
                provider_txn_id=parsed.provider_txn_id[:32] if parsed.provider_txn_id else None,
                status=parsed.status,
                amount_minor=parsed.amount_minor, currency=parsed.currency, raw=parsed.raw,
            )
            session.add(row)
            await session.flush()
            if then is not None:
                then(session, row.id)
            return row.id, True
    except IntegrityError:
        async with ctx.sessions() as session:
            existing = await session.scalar(
                select(PaymentNotification.id).where(
                    PaymentNotification.provider == provider,
                    PaymentNotification.provider_event_id == parsed.provider_event_id[:128],
                )
            )
        assert existing is not None
        return int(existing), False


async def process_notification(ctx: AppContext, *, notification_id: int) -> str:
    """Settle one stored notification; returns the recorded result. Safe to run twice."""
    async with ctx.sessions() as session:
        note = await session.get(PaymentNotification, notification_id)
        if note is None:
            return "missing"
        if note.processed_at is not None:
            return note.result or "processed"
        payment = await session.scalar(
            select(Payment).where(
                Payment.provider == note.provider, Payment.provider_ref == note.provider_ref
            )
        )
        order_status = None
        if payment is not None:
            order_status = await session.scalar(
                select(Order.status).where(Order.id == payment.order_id)
            )
        facts = _facts(note)
    if payment is None:
        return await _finish(ctx, notification_id, None, "unknown_payment")
    if facts.status == "authorized":  # LINE Pay: capture now, with the amount we expect
        if facts.provider_txn_id != payment.provider_txn_id:
            return await _flag(ctx, notification_id, payment.id, "transaction_mismatch")
        if order_status != "pending_payment":
            # Not captured, so no money moved: LINE Pay voids the authorization by itself.
            return await _finish(ctx, notification_id, payment.id, "order_not_payable")
        gateway = build(ctx.settings, payment.provider)
        facts = await gateway.confirm(
            facts, amount_minor=payment.amount_minor, currency=payment.currency
        )
    return await _settle(ctx, notification_id, payment.id, facts)


def _facts(note: PaymentNotification) -> ParsedNotification:
    return ParsedNotification(
        provider_event_id=note.provider_event_id, provider_ref=note.provider_ref,
        amount_minor=note.amount_minor, currency=note.currency,
        status=note.status,  # type: ignore[arg-type]
        provider_txn_id=note.provider_txn_id, raw=note.raw,
    )


async def _settle(
    ctx: AppContext, notification_id: int, payment_id: int, facts: ParsedNotification
) -> str:
    moved: state.TransitionResult | None = None
    async with ctx.sessions() as session, session.begin():
        payment = await session.scalar(
            select(Payment).where(Payment.id == payment_id).with_for_update()
        )
        note = await session.scalar(
            select(PaymentNotification)
            .where(PaymentNotification.id == notification_id)
            .with_for_update()
        )
        assert payment is not None and note is not None
        if note.processed_at is not None:  # a concurrent run got here first
            return note.result or "processed"
        changes: dict[str, object] = {}
        if facts.provider_txn_id and not payment.provider_txn_id:
            changes["provider_txn_id"] = facts.provider_txn_id
        if facts.status != "succeeded":
            result = "pending" if facts.status == "pending" else "payment_failed"
            if facts.status == "failed" and payment.status in ("created", "pending"):
                changes["status"] = "failed"
        elif (facts.amount_minor, facts.currency) != (payment.amount_minor, payment.currency):
            result = "amount_mismatch"
            if payment.status in ("created", "pending", "failed"):  # settled money stays put
                changes.update(status="flagged", flag_reason="amount_mismatch")
            log.error("payment_amount_mismatch", payment_id=payment.id,
                      expected=(payment.amount_minor, payment.currency),
                      got=(facts.amount_minor, facts.currency))
        elif payment.status in ("succeeded", "refunding", "refunded"):
            result = "duplicate"
        elif payment.status == "flagged":
            result = "payment_flagged"  # a person reviews it; nothing settles it automatically
        else:
            moved = await state.transition(session, payment.order_id, "paid",
                                           expected_from="pending_payment")
            changes["status"] = "succeeded"
            if moved.matched:
                result = "paid"
            else:
                # Money for an order that expired, was cancelled or was paid by another
                # attempt: keep it on record for a refund.
                result = "needs_refund"
                changes.update(needs_refund=True, flag_reason="order_not_payable")
                log.warning("payment_needs_refund", payment_id=payment.id,
                            order_id=payment.order_id)
        if changes:
            changes["updated_at"] = utcnow()
            await session.execute(
                update(Payment).where(Payment.id == payment_id).values(**changes)
            )
        note.result, note.processed_at, note.payment_id = result, utcnow(), payment_id
        if facts.raw != note.raw:  # LINE Pay: keep the confirm reply next to the return hint
            note.raw = f"{note.raw}\n{facts.raw}"
    if moved is not None:  # paid: the buyer holds one unpaid order fewer (the gate's count)
        await moved.after_commit(ctx.stock_gate)
    log.info("payment_notification_processed", notification_id=notification_id, result=result)
    return result


async def _flag(ctx: AppContext, notification_id: int, payment_id: int, reason: str) -> str:
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(Payment).where(Payment.id == payment_id).values(
                status="flagged", flag_reason=reason, updated_at=utcnow()
            )
        )
    log.error("payment_flagged", payment_id=payment_id, reason=reason)
    return await _finish(ctx, notification_id, payment_id, reason)


async def _finish(
    ctx: AppContext, notification_id: int, payment_id: int | None, result: str
) -> str:
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(PaymentNotification)
            .where(PaymentNotification.id == notification_id,
                   PaymentNotification.processed_at.is_(None))
            .values(result=result, processed_at=utcnow(), payment_id=payment_id)
        )
    return result

