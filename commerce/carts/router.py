"""`/cart`: the signed-in user's cart (any role); thin routes over `carts.service`."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from commerce.carts import service
from commerce.carts.schemas import CartItemPut, CartOut
from commerce.catalog.dependencies import ProductId
from commerce.deps import CartWriter, CtxDep, CurrentPrincipal

router = APIRouter(prefix="/cart", tags=["cart"])


@router.get("", response_model=CartOut)
async def get_cart(ctx: CtxDep, principal: CurrentPrincipal) -> CartOut:
    return await service.get_cart(ctx, user_id=principal.user_id)


@router.put("/items/{product_id}", response_model=CartOut)
async def put_item(
    ctx: CtxDep, principal: CartWriter, product_id: ProductId, body: CartItemPut
) -> CartOut:
    return await service.set_item(
        ctx, user_id=principal.user_id, product_id=product_id, quantity=body.quantity
    )


@router.delete("/items/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_item(ctx: CtxDep, principal: CartWriter, product_id: ProductId) -> Response:
    await service.remove_item(ctx, user_id=principal.user_id, product_id=product_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def clear_cart(ctx: CtxDep, principal: CartWriter) -> Response:
    await service.clear_cart(ctx.redis, principal.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
