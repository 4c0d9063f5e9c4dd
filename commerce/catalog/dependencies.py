"""Catalog dependencies: exact JSON bodies and the owned-product loader.

`json_body(Model)` parses the raw body with `Decimal` for fractional numbers, because FastAPI
(and pydantic's own JSON parser) turn `1290.10` into a binary float before any validator runs;
`12345678.105` would then be silently rounded instead of refused. The model's schema is still
published in OpenAPI through `body_openapi(Model)` on the route.

`OwnedProduct` is the one home of object-level authorization for writes: anonymous -> 401,
buyers -> 403 (via `SellerPrincipal`), a seller who does not own the product -> 404 (so product
ownership does not leak), admins may act on any product.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from commerce.catalog import service
from commerce.catalog.models import Product
from commerce.deps import SellerPrincipal, SessionDep
from shared.errors import NotFound
from shared.jsonbounds import check_depth

ModelT = TypeVar("ModelT", bound=BaseModel)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _malformed() -> RequestValidationError:
    # Rendered by commerce/errors.py as 400 `malformed_json`, like FastAPI's own parse errors.
    return RequestValidationError(
        [{"type": "json_invalid", "loc": ("body",), "msg": "body is not valid JSON"}]
    )


def parse_exact_json(raw: bytes) -> Any:
    """JSON with fractions and exponents as `Decimal`; NaN/Infinity and absurd nesting refused."""
    try:
        check_depth(raw)
        return json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except ValueError:  # JsonTooDeep, JSONDecodeError, bad UTF-8, int digit limit
        raise _malformed() from None


def json_body(model: type[ModelT]) -> Callable[[Request], Awaitable[ModelT]]:
    """A dependency returning the request body validated as `model` from exact JSON."""

    async def dependency(request: Request) -> ModelT:
        data = parse_exact_json(await request.body())
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
            raise RequestValidationError(errors) from None

    return dependency


def body_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting a body that `json_body` reads."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}
    }


ProductId = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def get_owned_product(
    product_id: ProductId, principal: SellerPrincipal, session: SessionDep
) -> Product:
    product = await service.get_product(session, product_id=product_id)
    if principal.role != "admin" and product.seller_id != principal.user_id:
        raise NotFound("product not found")
    return product


OwnedProduct = Annotated[Product, Depends(get_owned_product)]
