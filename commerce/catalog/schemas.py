"""Request and response shapes of the catalog.

Request bodies are validated from JSON parsed with `Decimal` for every fractional number (see
`dependencies.json_body`), so `"price": 1290.10` is never routed through a binary float: a price
keeps exactly the digits the client sent or is refused. Inside the service a price is integer
minor units; on the wire it is a two-decimal string plus `currency`.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from commerce.catalog.models import Product
from shared.money import Currency, from_minor, to_minor
from shared.text import block_validator, line_validator

MAX_PRICE = Decimal("99999999.99")
MAX_STOCK = 1_000_000
MAX_ATTRIBUTES_BYTES = 8 * 1024
MAX_ATTRIBUTES_KEYS = 50
MAX_IMAGES = 10
_PRICE_TEXT = re.compile(r"^[0-9]{1,8}(\.[0-9]{1,2})?$")


def _price_to_minor(value: object) -> int:
    """A positive price with at most two decimals, from a string or an exact JSON number."""
    if isinstance(value, str):
        if not _PRICE_TEXT.match(value):
            raise ValueError('price must look like "1290.00" (at most two decimals)')
        amount = Decimal(value)
    elif isinstance(value, int | Decimal) and not isinstance(value, bool):
        amount = Decimal(value)
        if not amount.is_finite():
            raise ValueError("price must be a finite number")
    else:
        raise ValueError('price must be a string like "1290.00" or a JSON number')
    # Bound the magnitude before quantizing: Decimal("1e309") cannot be quantized to cents.
    if amount > MAX_PRICE:
        raise ValueError(f"price must not exceed {MAX_PRICE}")
    if amount <= 0:
        raise ValueError("price must be greater than zero")
    return to_minor(amount)  # refuses more than two decimals


PriceMinor = Annotated[
    int,
    BeforeValidator(_price_to_minor),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _PRICE_TEXT.pattern},
                {"type": "number", "exclusiveMinimum": 0, "maximum": float(MAX_PRICE)},
            ],
            "description": 'two decimals at most, e.g. "1290.00"',
            "examples": ["1290.00"],
        }
    ),
]
"""A price on input, held as integer minor units once validated."""

_https_adapter: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def _https_url(value: str) -> str:
    try:
        url = _https_adapter.validate_python(value)
    except ValidationError:
        raise ValueError("not a valid URL") from None
    if url.scheme != "https":
        raise ValueError("image URLs must use https")
    return str(url)


def _plain_json(value: Any) -> Any:
    """Attributes as plain JSON values: exact-parsed Decimals become floats (they are labels,
    not money), anything non-finite is refused."""
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("attribute numbers must be finite")
    if isinstance(value, dict):
        return {key: _plain_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_json(item) for item in value]
    return value


def _bounded_attributes(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_ATTRIBUTES_KEYS:
        raise ValueError(f"at most {MAX_ATTRIBUTES_KEYS} attributes")
    plain = _plain_json(value)
    try:
        size = len(orjson.dumps(plain))
    except (TypeError, orjson.JSONEncodeError):
        raise ValueError("attributes must be plain JSON") from None
    if size > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"attributes must serialise to at most {MAX_ATTRIBUTES_BYTES} bytes")
    result: dict[str, Any] = plain
    return result


# Names and descriptions are shown to every viewer of a room (pinned products): shared.text
# removes control and bidi characters and refuses a name with nothing visible in it.
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(line_validator(200)),
]
Description = Annotated[
    str,
    StringConstraints(max_length=5000),
    AfterValidator(block_validator(5000, allow_empty=True)),
]
Stock = Annotated[int, Field(ge=0, le=MAX_STOCK)]
LimitPerBuyer = Annotated[
    int,
    Field(
        ge=1, le=MAX_STOCK,
        description="units of this product one buyer may hold across orders that are not "
        "cancelled, expired or refunded; an order beyond it is 409 `purchase_limit`",
    ),
]
Attributes = Annotated[dict[str, Any], AfterValidator(_bounded_attributes)]
ImageUrl = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_https_url)]
Images = Annotated[list[ImageUrl], Field(max_length=MAX_IMAGES)]


class _Input(BaseModel):
    # strict: no "5" -> 5 or true -> 1 coercion; unknown fields are a client bug, not a no-op.
    model_config = ConfigDict(strict=True, extra="forbid")


class ProductCreate(_Input):
    name: Name
    description: Description = ""
    price: PriceMinor
    currency: Currency | None = Field(default=None, description="default: the seller's market")
    stock: Stock
    limit_per_buyer: LimitPerBuyer | None = None
    attributes: Attributes = Field(default_factory=dict)
    images: Images = Field(default_factory=list)


# Fields whose `null` means "none" and so may be sent as null to clear them.
_NULLABLE = frozenset({"limit_per_buyer"})


class ProductUpdate(_Input):
    """Only the fields sent change; `null` is refused (send `""`, `{}` or `[]` to clear), but
    for `limit_per_buyer`, where `null` removes the limit."""

    name: Name | None = None
    description: Description | None = None
    price: PriceMinor | None = None
    currency: Currency | None = None
    stock: Stock | None = None
    limit_per_buyer: LimitPerBuyer | None = None
    attributes: Attributes | None = None
    images: Images | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = sorted(
                key for key, value in data.items() if value is None and key not in _NULLABLE
            )
            if nulls:
                raise ValueError(f"fields cannot be null: {', '.join(nulls)}")
            if not data:
                raise ValueError("nothing to update")
        return data

    def changes(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in self.model_fields_set}


class ProductOut(BaseModel):
    id: int
    seller_id: int
    name: str
    description: str
    price: str = Field(examples=["1290.00"])
    currency: str
    stock: int
    limit_per_buyer: int | None = Field(
        description="units one buyer may hold across live orders (null: no limit)"
    )
    attributes: dict[str, Any]
    images: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, product: Product) -> ProductOut:
        return cls(
            id=product.id,
            seller_id=product.seller_id,
            name=product.name,
            description=product.description,
            price=from_minor(product.price_minor),
            currency=product.currency,
            stock=product.stock,
            limit_per_buyer=product.limit_per_buyer,
            attributes=product.attributes,
            images=product.images,
            created_at=product.created_at,
            updated_at=product.updated_at,
        )
