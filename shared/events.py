"""Domain events commerce publishes and the gateway relays: defined once, typed and versioned.

Every event is an envelope `{type, version, id, occurred_at, stream_id?, data}`. The
discriminated union `DomainEvent` is the gateway's only decoder, so an unknown or malformed event
is rejected in one place instead of half-handled in several. Bump `version` (and keep decoding the
old one) when a payload changes incompatibly.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


def _now() -> datetime:
    return datetime.now(UTC)


def _event_id() -> str:
    return uuid.uuid4().hex


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = 1
    id: str = Field(default_factory=_event_id)
    occurred_at: datetime = Field(default_factory=_now)
    stream_id: int | None = None


# --- payloads -------------------------------------------------------------------------------


class OrderLine(_Data):
    product_id: int
    quantity: int


class OrderPlacedData(_Data):
    order_id: int
    buyer_id: int
    buyer_masked: str
    items: list[OrderLine]
    total_minor: int
    currency: str


class OrderStateData(_Data):
    order_id: int
    buyer_id: int
    status: str


class OrderShippedData(_Data):
    """One seller shipped their lines of an order. `status` is the order's status after it:
    `fulfilled` once every line is shipped, otherwise still `paid`."""

    order_id: int
    buyer_id: int
    seller_id: int
    status: str
    product_ids: list[int]
    carrier: str
    tracking_number: str


class OrderRefundedData(_Data):
    """Lines of an order were refunded (all of them when `status` is `refunded`)."""

    order_id: int
    buyer_id: int
    status: str
    product_ids: list[int]
    amount_minor: int
    currency: str


class StockChangedData(_Data):
    product_id: int
    stock: int


class SoldOutData(_Data):
    product_id: int


class StreamStatusData(_Data):
    status: Literal["scheduled", "live", "ended"]
    host_id: int | None = None


class TokensRevokedData(_Data):
    """A user's sessions were revoked (logout, refresh-token reuse): drop their sockets."""

    user_id: int
    jti: str | None = None
    family: str | None = None  # the refresh-token family whose sessions end (logout, reuse)


# --- events ---------------------------------------------------------------------------------


class OrderPlaced(_Event):
    type: Literal["order.placed"] = "order.placed"
    data: OrderPlacedData


class OrderPaid(_Event):
    type: Literal["order.paid"] = "order.paid"
    data: OrderStateData


class OrderCancelled(_Event):
    type: Literal["order.cancelled"] = "order.cancelled"
    data: OrderStateData


class OrderExpired(_Event):
    type: Literal["order.expired"] = "order.expired"
    data: OrderStateData


class OrderShipped(_Event):
    type: Literal["order.shipped"] = "order.shipped"
    data: OrderShippedData


class OrderCompleted(_Event):
    type: Literal["order.completed"] = "order.completed"
    data: OrderStateData


class OrderRefunded(_Event):
    type: Literal["order.refunded"] = "order.refunded"
    data: OrderRefundedData


class StockChanged(_Event):
    type: Literal["stock.changed"] = "stock.changed"
    data: StockChangedData


class ProductSoldOut(_Event):
    type: Literal["product.sold_out"] = "product.sold_out"
    data: SoldOutData


class StreamStatusChanged(_Event):
    type: Literal["stream.status"] = "stream.status"
    data: StreamStatusData


class UserTokensRevoked(_Event):
    type: Literal["user.tokens_revoked"] = "user.tokens_revoked"
    data: TokensRevokedData


DomainEvent = Annotated[
    OrderPlaced
    | OrderPaid
    | OrderCancelled
    | OrderExpired
    | OrderShipped
    | OrderCompleted
    | OrderRefunded
    | StockChanged
    | ProductSoldOut
    | StreamStatusChanged
    | UserTokensRevoked,
    Field(discriminator="type"),
]

_adapter: TypeAdapter[DomainEvent] = TypeAdapter(DomainEvent)


def encode(event: _Event) -> bytes:
    return orjson.dumps(event.model_dump(mode="json"))


def decode(raw: bytes | str) -> DomainEvent:
    """Parse one envelope; raises pydantic.ValidationError for anything not a known event."""
    return _adapter.validate_json(raw)
