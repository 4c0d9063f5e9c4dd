"""`/streams` and Cloudflare's webhook: parse, authorize, call one service function."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.deps import (
    CtxDep,
    OptionalPrincipal,
    ReaderDep,
    SellerPrincipal,
    SessionDep,
)
from commerce.pagination import Cursor, Limit, Page
from commerce.streams import service, views
from commerce.streams.schemas import StreamCreate, StreamOut, StreamStatus, StreamUpdate

router = APIRouter(tags=["streams"])

StreamId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.post("/streams", status_code=201, response_model=StreamOut)
async def create_stream(body: StreamCreate, ctx: CtxDep, principal: SellerPrincipal) -> StreamOut:
    stream = await service.create_stream(ctx, host_id=principal.user_id, data=body)
    return views.present(ctx, stream, body.product_ids, principal)


@router.get("/streams", response_model=Page[StreamOut])
async def list_streams(
    ctx: CtxDep,
    reader: ReaderDep,
    viewer: OptionalPrincipal,
    status: StreamStatus | None = None,
    host_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[StreamOut]:
    async def load(session: AsyncSession) -> Page[StreamOut]:
        rows, next_cursor = await service.list_streams(
            session, status=status, host_id=host_id, limit=limit, cursor=cursor
        )
        audience = await views.Audience.of(ctx, session, [stream for stream, _ in rows])
        items = [views.present(ctx, stream, lineup, viewer, audience) for stream, lineup in rows]
        return Page[StreamOut](items=items, next_cursor=next_cursor)

    return await reader.read(load)


@router.get("/streams/{stream_id}", response_model=StreamOut)
async def get_stream(
    stream_id: StreamId, ctx: CtxDep, reader: ReaderDep, viewer: OptionalPrincipal
) -> StreamOut:
    async def load(session: AsyncSession) -> StreamOut:
        stream, lineup = await service.get_stream(session, stream_id=stream_id)
        audience = await views.Audience.of(ctx, session, [stream])
        return views.present(ctx, stream, lineup, viewer, audience)

    return await reader.read(load)


@router.patch("/streams/{stream_id}", response_model=StreamOut)
async def update_stream(
    stream_id: StreamId, body: StreamUpdate, ctx: CtxDep, principal: SellerPrincipal
) -> StreamOut:
    stream, lineup = await service.update_stream(
        ctx, stream_id=stream_id, principal=principal, data=body
    )
    return views.present(ctx, stream, lineup, principal)


@router.post(
    "/streams/{stream_id}/start",
    response_model=StreamOut,
    responses={409: {"description": "encoder_not_connected, stream_ended"}},
)
async def start_stream(
    stream_id: StreamId, ctx: CtxDep, session: SessionDep, principal: SellerPrincipal
) -> StreamOut:
    """Go live (host): allowed once the provider reports the host's encoder connected."""
    stream = await service.start_stream(ctx, stream_id=stream_id, principal=principal)
    _, lineup = await service.get_stream(session, stream_id=stream.id)
    return views.present(ctx, stream, lineup, principal)


@router.post("/streams/{stream_id}/end", response_model=StreamOut)
async def end_stream(
    stream_id: StreamId, ctx: CtxDep, session: SessionDep, principal: SellerPrincipal
) -> StreamOut:
    stream = await service.end_stream(ctx, stream_id=stream_id, principal=principal)
    _, lineup = await service.get_stream(session, stream_id=stream.id)
    return views.present(ctx, stream, lineup, principal)


@router.post(
    "/webhooks/cloudflare-stream",
    status_code=204,
    response_class=Response,
    responses={400: {"description": "forged, stale, replayed or malformed delivery"}},
)
async def cloudflare_stream_webhook(request: Request, ctx: CtxDep) -> Response:
    """Stream's video webhook (`Webhook-Signature`) and live-input Notifications
    (`cf-webhook-auth`)."""
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    await service.receive_webhook(ctx, headers=headers, body=body)
    return Response(status_code=204)
