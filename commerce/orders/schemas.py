"""Wire shapes of `/orders`: strict inputs (bad input is a 422, never a 500) and outputs with
money as two-decimal strings plus currency, as the contract says."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from commerce.orders.models import Order, OrderItem
from shared.money import from_minor

MAX_LINES = 50
MAX_QUANTITY = 99
DB_ID_MAX = 2**63 - 1

DbId = Annotated[int, Field(ge=1, le=DB_ID_MAX)]
Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class OrderLineIn(_Strict):
    product_id: DbId
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class ShippingAddress(_Strict):
    name: Text100
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 ()-]{5,24}$")]
    line1: Text200
    line2: Text200 | None = None
    district: Text100 | None = None
    city: Text100
    postal_code: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z -]{3,10}$")]
    country: Literal["TW", "TH"]


class OrderCreate(_Strict):
    """Exactly one source of lines: `items`, or `from_cart: true`.

    The same product on two lines is rejected (422) rather than merged: a client that sends it
    has a bug, and merging would silently change what the per-line quantity cap means.
    """

    items: list[OrderLineIn] | None = Field(default=None, min_length=1, max_length=MAX_LINES)
    from_cart: bool = False
    stream_id: DbId | None = None
    shipping_address: ShippingAddress

    @model_validator(mode="after")
    def _one_source(self) -> OrderCreate:
        if self.items is None and not self.from_cart:
            raise ValueError("give items or from_cart: true")
        if self.items is not None and self.from_cart:
            raise ValueError("give either items or from_cart: true, not both")
        if self.items is not None:
            ids = [line.product_id for line in self.items]
            if len(set(ids)) != len(ids):
                raise ValueError("each product may appear on one line only")
        return self


class OrderItemOut(BaseModel):
    product_id: int
    seller_id: int
    name: str
    unit_price: str
    quantity: int
    line_total: str


class OrderOut(BaseModel):
    """An order as its buyer, the sellers of its items and admins see it.

    A seller sees the whole order (they need the address to ship); `items[].seller_id` tells
    them which lines are theirs.
    """

    id: int
    buyer_id: int
    status: str
    items: list[OrderItemOut]
    total: str
    currency: str
    stream_id: int | None
    shipping_address: dict[str, Any]
    expires_at: datetime
    created_at: datetime
    paid_at: datetime | None = None


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


def order_out(order: Order, items: list[OrderItem]) -> OrderOut:
    return OrderOut(
        id=order.id,
        buyer_id=order.buyer_id,
        status=order.status,
        items=[
            OrderItemOut(
                product_id=i.product_id,
                seller_id=i.seller_id,
                name=i.name,
                unit_price=from_minor(i.unit_price_minor),
                quantity=i.quantity,
                line_total=from_minor(i.unit_price_minor * i.quantity),
            )
            for i in sorted(items, key=lambda i: i.id or 0)
        ],
        total=from_minor(order.total_minor),
        currency=order.currency,
        stream_id=order.stream_id,
        shipping_address=order.shipping_address,
        expires_at=order.expires_at,
        created_at=order.created_at,
        paid_at=order.paid_at,
    )
