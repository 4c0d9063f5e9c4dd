"""Payment tasks (queue "payments"): settle a stored notification by id (idempotent), and the
periodic reconciliation that re-enqueues stuck notifications and queries silent providers."""

from __future__ import annotations

from datetime import timedelta

from commerce.context import AppContext
from commerce.payments import reconcile, settlement
from commerce.tasks import async_task, enqueue


@async_task("payments.process_notification", queue="payments")
async def process_notification(ctx: AppContext, notification_id: int) -> str:
    """Check amount/currency and move the order to paid; a processed notification is a no-op."""
    return await settlement.process_notification(ctx, notification_id=notification_id)


async def enqueue_notification(ctx: AppContext, notification_id: int) -> None:
    await enqueue(ctx, process_notification, notification_id)


@async_task("payments.reconcile", queue="payments", every=timedelta(minutes=1))
async def reconcile_payments(ctx: AppContext) -> int:
    """Re-enqueue stuck notifications and query providers about old pending payments."""
    ids = await reconcile.stale_notifications(ctx) + await reconcile.query_pending(ctx)
    for notification_id in ids:
        await enqueue_notification(ctx, notification_id)
    return len(ids)
