"""Cart request and response shapes. Prices are never stored in the cart: they are re-read from
the catalog on every `GET /cart`, so a cart always shows what checkout will charge."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MAX_QUANTITY = 99


class CartItemPut(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]


class CartLine(BaseModel):
    product_id: int
    name: str
    price: str = Field(examples=["1290.00"])
    currency: str
    quantity: int
    line_total: str
    available: int = Field(description="units in stock now; checkout fails above it")
    image_url: str | None


class CartOut(BaseModel):
    items: list[CartLine]
    currency: str | None = Field(
        description="the cart's currency; null when empty (or mixed after a seller changed one)"
    )
    subtotal: str | None = Field(description="sum of line totals; null when currency is null")
    count: int = Field(description="total units in the cart")
