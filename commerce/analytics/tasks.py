"""Analytics tasks: freeze a stream's numbers when it ends, and a beat that catches up on any
ended stream not frozen yet (a lost task, a stream ended while no consumer ran)."""

from __future__ import annotations

from datetime import timedelta

from commerce.analytics import daily_report, service
from commerce.context import AppContext
from commerce.tasks import async_task


@async_task("analytics.freeze_stream")
async def freeze_stream(ctx: AppContext, stream_id: int) -> bool:
    return await service.freeze(ctx, stream_id=stream_id)


@async_task("analytics.rollup", every=timedelta(minutes=10))
async def rollup(ctx: AppContext) -> int:
    frozen = 0
    for stream_id in await service.unfrozen_ended(ctx):
        frozen += await service.freeze(ctx, stream_id=stream_id)
    return frozen


@async_task("analytics.seller_daily_reports", queue="notifications", every=timedelta(hours=1))
async def seller_daily_reports(ctx: AppContext) -> int:
    """Hourly, so each market's day is reported soon after its local midnight; once per day."""
    return await daily_report.send_daily_reports(ctx)
