"""`/products`: thin routes over `catalog.service` (authorization lives in `dependencies`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from commerce import throttle
from commerce.catalog import service
from commerce.catalog.dependencies import (
    OwnedProduct,
    ProductId,
    body_openapi,
    json_body,
)
from commerce.catalog.schemas import ProductCreate, ProductOut, ProductUpdate
from commerce.deps import ClientIP, CtxDep, ReaderDep, SellerPrincipal
from commerce.pagination import Cursor, Limit, Page

router = APIRouter(prefix="/products", tags=["catalog"])

CreateBody = Annotated[ProductCreate, Depends(json_body(ProductCreate))]
UpdateBody = Annotated[ProductUpdate, Depends(json_body(ProductUpdate))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ProductOut,
    openapi_extra=body_openapi(ProductCreate),
)
async def create_product(ctx: CtxDep, principal: SellerPrincipal, body: CreateBody) -> ProductOut:
    product = await service.create_product(ctx, seller_id=principal.user_id, data=body)
    return ProductOut.of(product)


@router.get("", response_model=Page[ProductOut])
async def list_products(
    ctx: CtxDep,
    reader: ReaderDep,
    ip: ClientIP,
    q: Annotated[
        str | None,
        Query(max_length=100, description="substring of 2+ characters; empty: no search"),
    ] = None,
    seller_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[ProductOut]:
    """Newest first, or with `q` ranked search results (429 `rate_limited` per address)."""
    if q:
        await throttle.enforce(ctx.limiter, ctx.settings.rate_limits.search_per_ip, "search-ip", ip)

    async def load(session: AsyncSession) -> Page[ProductOut]:
        products, next_cursor = await service.list_products(
            session, q=q or None, seller_id=seller_id, limit=limit, cursor=cursor
        )
        return Page[ProductOut](
            items=[ProductOut.of(p) for p in products], next_cursor=next_cursor)

    return await reader.read(load)


@router.get("/{product_id}", response_model=ProductOut)
async def get_product(product_id: ProductId, reader: ReaderDep) -> ProductOut:
    async def load(session: AsyncSession) -> ProductOut:
        return ProductOut.of(await service.get_product(session, product_id=product_id))

    return await reader.read(load)


@router.patch("/{product_id}", response_model=ProductOut, openapi_extra=body_openapi(ProductUpdate))
async def update_product(ctx: CtxDep, product: OwnedProduct, body: UpdateBody) -> ProductOut:
    updated = await service.update_product(ctx, product_id=product.id, data=body)
    return ProductOut.of(updated)


@router.delete("/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_product(ctx: CtxDep, product: OwnedProduct) -> Response:
    await service.delete_product(ctx, product_id=product.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
