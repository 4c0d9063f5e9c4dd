"""Wire shapes of `/orders`: strict inputs (bad input is a 422, never a 500) and outputs with
money as two-decimal strings plus currency, as the contract says."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from commerce.orders.models import Order, OrderItem, Shipment
from shared.money import from_minor
from shared.text import block_validator, line_validator

MAX_LINES = 50
MAX_QUANTITY = 99
DB_ID_MAX = 2**63 - 1

DbId = Annotated[int, Field(ge=1, le=DB_ID_MAX)]
# What a buyer types into an address the seller reads (the host console, the orders CSV), and
# what a seller types that the buyer reads (carrier, refund reason), go through shared.text like
# every other text shown to another user: no bidi overrides, NUL or CR/LF (a CSV row apart).
Text100 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(line_validator(100)),
]
Text200 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(line_validator(200)),
]


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


LineStatus = Literal["open", "shipped", "refunded"]
TrackingNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{0,63}$")
]


class ShipIn(_Strict):
    """The seller's parcel: who carries it and its tracking number (e.g. `黑貓宅急便`,
    `Kerry Express`, `Thailand Post`)."""

    carrier: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
        AfterValidator(line_validator(50)),
    ]
    tracking_number: TrackingNumber


class RefundIn(_Strict):
    """Which lines to refund: `product_ids` (default: every line the caller may refund that is
    not refunded yet; for a seller, their own lines)."""

    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
        AfterValidator(block_validator(500)),
    ]
    product_ids: list[DbId] | None = Field(default=None, min_length=1, max_length=MAX_LINES)

    @model_validator(mode="after")
    def _distinct(self) -> RefundIn:
        if self.product_ids is not None and len(set(self.product_ids)) != len(self.product_ids):
            raise ValueError("each product may appear once")
        return self


class OrderItemOut(BaseModel):
    product_id: int
    seller_id: int
    name: str
    unit_price: str
    quantity: int
    line_total: str
    # open (paid or awaiting payment), shipped, refunded (or being refunded).
    status: LineStatus = "open"


class ShipmentOut(BaseModel):
    carrier: str
    tracking_number: str
    shipped_at: datetime
    product_ids: list[int]


class OrderOut(BaseModel):
    """An order as its buyer, the sellers of its items and admins see it.

    A seller who is not the buyer sees only their own lines, their own total and their own
    shipments (plus the address, which they need to ship): another seller's part of a mixed
    order is not theirs to see.
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
    fulfilled_at: datetime | None = None
    shipments: list[ShipmentOut] = Field(default_factory=list)


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


def _line_status(item: OrderItem) -> LineStatus:
    if item.refund_id is not None:
        return "refunded"
    return "shipped" if item.shipment_id is not None else "open"


def order_out(
    order: Order,
    items: list[OrderItem],
    shipments: list[Shipment] | None = None,
    *,
    seller_id: int | None = None,
) -> OrderOut:
    """The wire view; `seller_id` narrows it to that seller's lines, total and shipments."""
    if seller_id is not None:
        items = [i for i in items if i.seller_id == seller_id]
        shipments = [s for s in shipments or [] if s.seller_id == seller_id]
        total = sum(i.unit_price_minor * i.quantity for i in items)
    else:
        total = order.total_minor
    lines = sorted(items, key=lambda i: i.id or 0)
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
                status=_line_status(i),
            )
            for i in lines
        ],
        shipments=[
            ShipmentOut(
                carrier=s.carrier,
                tracking_number=s.tracking_number,
                shipped_at=s.shipped_at,
                product_ids=[i.product_id for i in lines if i.shipment_id == s.id],
            )
            for s in sorted(shipments or [], key=lambda s: s.id)
        ],
        total=from_minor(total),
        currency=order.currency,
        stream_id=order.stream_id,
        shipping_address=order.shipping_address,
        expires_at=order.expires_at,
        created_at=order.created_at,
        paid_at=order.paid_at,
        fulfilled_at=order.fulfilled_at,
    )
