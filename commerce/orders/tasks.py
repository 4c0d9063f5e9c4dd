"""Periodic order tasks (Celery beat on workers, asyncio timers when embedded)."""

from __future__ import annotations

from datetime import timedelta

from commerce.context import AppContext
from commerce.orders import fulfilment
from commerce.orders import service as order_service
from commerce.orders.checkout import answers
from commerce.tasks import async_task


@async_task("orders.expire_reservations", every=timedelta(seconds=30))
async def expire_reservations(ctx: AppContext) -> int:
    """Expire unpaid orders past their reservation TTL and return their stock (idempotent)."""
    return await order_service.expire_due(ctx)


@async_task("orders.purge_idempotency_records", every=timedelta(minutes=10))
async def purge_idempotency_records(ctx: AppContext) -> int:
    """Forget `Idempotency-Key`s past their 24-hour retention (answers.purge_expired)."""
    return await answers.purge_expired(ctx.sessions)


@async_task("orders.complete_due", every=timedelta(minutes=10))
async def complete_due(ctx: AppContext) -> int:
    """Complete orders `ORDER_AUTO_COMPLETE_DAYS` after their last shipment (idempotent)."""
    return await fulfilment.complete_due(ctx)
