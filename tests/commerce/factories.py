"""Test data factories shared by the commerce tests.

Users are inserted directly and given an access token minted by the app's own issuer, so tests
of other domains do not depend on the auth routes. Products go through the catalog service, so
they get their search postings and live snapshot exactly as the API would create them.
"""

from __future__ import annotations

import itertools
from typing import Any

from commerce.auth.models import User
from commerce.catalog import service as catalog_service
from commerce.catalog.models import Product
from commerce.catalog.schemas import ProductCreate
from commerce.context import AppContext

_serial = itertools.count(1)


def bearer(ctx: AppContext, user: User) -> dict[str, str]:
    """Authorization headers carrying a fresh access token for `user`."""
    token, _ = ctx.tokens.issue_access(user_id=user.id, role=user.role, name=user.display_name)
    return {"Authorization": f"Bearer {token}"}


async def make_user(
    ctx: AppContext, role: str = "buyer", market: str = "TW", **fields: Any
) -> tuple[User, dict[str, str]]:
    """A committed user (buyer, seller or admin) and headers authenticating as them."""
    n = next(_serial)
    values: dict[str, Any] = {
        "email": f"{role}{n}@example.test",
        "display_name": f"{role.title()} {n}",
        "password_hash": None,
        "role": role,
        "market": market,
        "locale": "zh_TW" if market == "TW" else "th",
        "email_verified": True,
        **fields,
    }
    async with ctx.sessions() as session, session.begin():
        user = User(**values)
        session.add(user)
    return user, bearer(ctx, user)


async def make_product(ctx: AppContext, seller: User, **fields: Any) -> Product:
    """A product of `seller` created through the catalog service; `fields` override defaults
    and use the API's shapes (e.g. `price="1290.00"`)."""
    data: dict[str, Any] = {
        "name": f"Product {next(_serial)}",
        "price": "100.00",
        "stock": 10,
        **fields,
    }
    return await catalog_service.create_product(
        ctx, seller_id=seller.id, data=ProductCreate.model_validate(data)
    )
