"""`GET /streams/{id}/analytics` (host or admin) and the seller's CSV report."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from commerce.analytics import report, service
from commerce.analytics.schemas import StreamAnalyticsOut
from commerce.deps import CtxDep, CurrentPrincipal, SellerPrincipal

router = APIRouter(tags=["analytics"])


@router.get("/streams/{stream_id}/analytics", response_model=StreamAnalyticsOut)
async def stream_analytics(
    ctx: CtxDep, principal: CurrentPrincipal, stream_id: int
) -> StreamAnalyticsOut:
    """Live numbers while streaming, final ones after the end."""
    return await service.stream_analytics(ctx, stream_id=stream_id, principal=principal)


@router.get("/sellers/me/reports/orders.csv", response_class=StreamingResponse)
async def orders_csv(
    ctx: CtxDep,
    principal: SellerPrincipal,
    from_: Annotated[date, Query(alias="from", description="first day (UTC), inclusive")],
    to: Annotated[date, Query(description="last day (UTC), inclusive")],
) -> StreamingResponse:
    """The caller's order lines placed in the period, streamed as CSV (UTF-8 with BOM)."""
    period = report.period(from_, to)
    filename = f"orders-{from_.isoformat()}-{to.isoformat()}.csv"
    return StreamingResponse(
        report.rows_csv(ctx, seller_id=principal.user_id, period=period),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
