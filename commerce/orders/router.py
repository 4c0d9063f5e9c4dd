"""`/orders`: thin routes over `commerce.orders.service`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response

from commerce.deps import ClientIP, CtxDep, CurrentPrincipal, SessionDep
from commerce.hot_routes import HotRequest, HotResponse
from commerce.orders import fulfilment
from commerce.orders import service as order_service
from commerce.orders.dependencies import CheckoutDep, CurrentOrder, OrderId, checkout_of
from commerce.orders.schemas import OrderCreate, OrderOut, OrderPage, ShipIn
from commerce.orders.state import Status
from commerce.pagination import Cursor, Limit

router = APIRouter(prefix="/orders", tags=["orders"])


@router.post(
    "",
    status_code=201,
    response_model=OrderOut,
    responses={
        409: {"description": "out_of_stock, purchase_limit (details: limit, kind "
                              "unpaid_orders or per_product, product_id), idempotency_conflict"},
        429: {"description": "rate_limited (per user and per address)"},
    },
)
async def place_order(
    body: OrderCreate,
    checkout: CheckoutDep,
    principal: CurrentPrincipal,
    ip: ClientIP,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="1-255 visible ASCII characters"),
    ] = None,
) -> Response:
    """Reserve stock and create a `pending_payment` order; replays for a repeated key. The
    order counts against the per-user and per-address order limits inside the checkout (in
    the fast path's one Redis round trip)."""
    stored = await checkout.place_order(
        principal=principal, body=body, idempotency_key=idempotency_key, client_ip=ip
    )
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else None
    return Response(
        stored.body, status_code=stored.status_code, media_type="application/json",
        headers=headers,
    )


async def place_order_hot(request: HotRequest) -> HotResponse:
    """`POST /orders` as a hot route (`commerce.hot_routes`): the same steps as `place_order`
    above, in the same order (authenticate, validate, place), without FastAPI's machinery."""
    principal = request.signed_principal()
    body = request.json_model(OrderCreate)
    stored = await checkout_of(request.state).place_order(
        principal=principal, body=body,
        idempotency_key=request.header(b"idempotency-key"), revocation_checked=False,
        client_ip=request.client_ip,
    )
    headers = ((b"idempotent-replayed", b"true"),) if stored.replayed else ()
    return HotResponse(stored.status_code, stored.body, headers)


@router.get("", response_model=OrderPage)
async def list_orders(
    session: SessionDep,
    principal: CurrentPrincipal,
    as_: Annotated[
        Literal["buyer", "seller"],
        Query(alias="as", description="`seller`: orders holding the caller's products, each "
              "showing only the caller's lines and their total (seller accounts)"),
    ] = "buyer",
    status: Annotated[Status | None, Query(description="only orders in this status")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> OrderPage:
    """The caller's orders newest first: as buyer (default) or as seller (`as=seller`)."""
    return await order_service.list_orders(
        session, principal=principal, as_=as_, limit=limit, cursor=cursor, status=status
    )


@router.get("/{order_id}", response_model=OrderOut)
async def get_order(order: CurrentOrder) -> OrderOut:
    return order


@router.post("/{order_id}/cancel", response_model=OrderOut)
async def cancel_order(order_id: OrderId, ctx: CtxDep, principal: CurrentPrincipal) -> OrderOut:
    return await order_service.cancel_order(ctx, order_id=order_id, principal=principal)


@router.post(
    "/{order_id}/ship",
    response_model=OrderOut,
    responses={403: {"description": "the caller sells nothing in this order"},
               409: {"description": "invalid_transition (not paid), already_shipped"}},
)
async def ship_order(
    order_id: OrderId, body: ShipIn, ctx: CtxDep, principal: CurrentPrincipal
) -> OrderOut:
    """Ship the caller's lines (a seller's parcel); the order is `fulfilled` once every line
    that was not refunded has shipped. The buyer's sockets get `order_status`."""
    return await fulfilment.ship(ctx, order_id=order_id, principal=principal, body=body)


@router.post(
    "/{order_id}/complete",
    response_model=OrderOut,
    responses={403: {"description": "not the buyer"},
               409: {"description": "invalid_transition (not fulfilled)"}},
)
async def complete_order(order_id: OrderId, ctx: CtxDep, principal: CurrentPrincipal) -> OrderOut:
    """The buyer confirms receipt (`fulfilled -> completed`); otherwise automatic
    `ORDER_AUTO_COMPLETE_DAYS` after the last shipment."""
    return await fulfilment.complete(ctx, order_id=order_id, principal=principal)
