"""`CurrentOrder`: loads an order for the caller or answers 404, so object-level authorization
for orders lives here and nowhere else. `CheckoutDep`: the process's `Checkout`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from starlette.datastructures import State

from commerce.deps import CurrentPrincipal, SessionDep
from commerce.orders import service as order_service
from commerce.orders.checkout.flow import Checkout
from commerce.orders.schemas import DB_ID_MAX, OrderOut

OrderId = Annotated[int, Path(ge=1, le=DB_ID_MAX, description="order id")]


async def get_current_order(
    order_id: OrderId, principal: CurrentPrincipal, session: SessionDep
) -> OrderOut:
    return await order_service.visible_order(session, order_id=order_id, principal=principal)


CurrentOrder = Annotated[OrderOut, Depends(get_current_order)]


def checkout_of(state: State) -> Checkout:
    """The app's `Checkout` (built with the app's context: `commerce.app`)."""
    checkout: Checkout = state.checkout
    return checkout


async def get_checkout(request: Request) -> Checkout:
    return checkout_of(request.app.state)


CheckoutDep = Annotated[Checkout, Depends(get_checkout)]
