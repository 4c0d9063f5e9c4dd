"""Carts: one Redis hash per user, `cart:{user_id}` = {product_id: quantity}, with a TTL.

Only ids and quantities live in Redis; names, prices and stock are read from the catalog every
time, so a price change can never leave a stale price in someone's cart. Writes run as optimistic
Redis transactions (WATCH/MULTI/EXEC, retried on conflict) so two concurrent adds cannot slip
past the item cap or mix currencies. The TTL is refreshed on every change.

`read_cart` and `clear_cart` are the orders domain's entry points for `from_cart: true`.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from commerce.carts.schemas import CartLine, CartOut
from commerce.catalog import service as catalog
from commerce.catalog.models import Product
from commerce.context import AppContext
from shared.errors import Conflict
from shared.money import from_minor

MAX_ITEMS = 50
_WATCH_RETRIES = 5


class OutOfStock(Conflict):
    def __init__(self, *, available: int) -> None:
        super().__init__(
            "not enough stock", code="out_of_stock", details={"available": max(0, available)}
        )


class CurrencyMismatch(Conflict):
    def __init__(self, *, cart_currency: str, product_currency: str) -> None:
        super().__init__(
            "a cart holds products of one currency",
            code="currency_mismatch",
            details={"cart_currency": cart_currency, "product_currency": product_currency},
        )


class CartFull(Conflict):
    def __init__(self) -> None:
        super().__init__(
            f"a cart holds at most {MAX_ITEMS} different products",
            code="cart_full",
            details={"max_items": MAX_ITEMS},
        )


class CartBusy(Conflict):
    def __init__(self) -> None:
        super().__init__("the cart changed concurrently; retry", code="cart_busy")


def cart_key(user_id: int) -> str:
    return f"cart:{user_id}"


CART_KEY_PATTERN = "cart:*"  # every cart_key (the abandoned-cart job scans them)


def _parse(raw: dict[Any, Any]) -> dict[int, int]:
    """Hash fields as ints; anything unparsable (never written by us) is ignored."""
    cart: dict[int, int] = {}
    for field, value in raw.items():
        try:
            product_id, quantity = int(field), int(value)
        except (TypeError, ValueError):
            continue
        if product_id > 0 and quantity > 0:
            cart[product_id] = quantity
    return cart


async def read_cart(redis: aioredis.Redis, user_id: int) -> dict[int, int]:
    """{product_id: quantity} as stored (products may since have been deleted)."""
    return _parse(await redis.hgetall(cart_key(user_id)))


async def clear_cart(redis: aioredis.Redis, user_id: int) -> None:
    await redis.delete(cart_key(user_id))


async def get_cart(ctx: AppContext, *, user_id: int) -> CartOut:
    """The cart priced from the catalog; lines of deleted products are dropped for good."""
    cart = await read_cart(ctx.redis, user_id)
    async with ctx.sessions() as session:
        products = await catalog.load_active_products(session, list(cart))
    gone = [product_id for product_id in cart if product_id not in products]
    if gone:
        await ctx.redis.hdel(cart_key(user_id), *(str(product_id) for product_id in gone))
    return _render({pid: (products[pid], qty) for pid, qty in cart.items() if pid in products})


def _render(lines: dict[int, tuple[Product, int]]) -> CartOut:
    items = []
    subtotal = 0
    for product_id in sorted(lines):
        product, quantity = lines[product_id]
        line_total = product.price_minor * quantity
        subtotal += line_total
        items.append(
            CartLine(
                product_id=product_id,
                name=product.name,
                price=from_minor(product.price_minor),
                currency=product.currency,
                quantity=quantity,
                line_total=from_minor(line_total),
                available=product.stock,
                image_url=product.images[0] if product.images else None,
            )
        )
    currencies = {item.currency for item in items}
    currency = currencies.pop() if len(currencies) == 1 else None
    return CartOut(
        items=items,
        currency=currency,
        subtotal=from_minor(subtotal) if currency else None,
        count=sum(item.quantity for item in items),
    )


async def set_item(ctx: AppContext, *, user_id: int, product_id: int, quantity: int) -> CartOut:
    """Put `quantity` units of a product in the cart (replacing any previous quantity)."""
    async with ctx.sessions() as session:
        product = await catalog.get_product(session, product_id=product_id)
        if quantity > product.stock:
            raise OutOfStock(available=product.stock)
        key = cart_key(user_id)
        for _ in range(_WATCH_RETRIES):
            async with ctx.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    cart = _parse(await pipe.hgetall(key))
                    others = [pid for pid in cart if pid != product_id]
                    if product_id not in cart and len(others) >= MAX_ITEMS:
                        raise CartFull()
                    active = await catalog.load_active_products(session, others)
                    currencies = {p.currency for p in active.values()} - {product.currency}
                    if currencies:
                        raise CurrencyMismatch(
                            cart_currency=sorted(currencies)[0], product_currency=product.currency
                        )
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py
                    pipe.hset(key, str(product_id), str(quantity))
                    pipe.expire(key, ctx.settings.cart_ttl_s)
                    await pipe.execute()
                except WatchError:
                    continue
                break
        else:
            raise CartBusy()
    return await get_cart(ctx, user_id=user_id)


async def remove_item(ctx: AppContext, *, user_id: int, product_id: int) -> None:
    """Idempotent: removing a product that is not in the cart is not an error."""
    key = cart_key(user_id)
    async with ctx.redis.pipeline(transaction=True) as pipe:
        pipe.hdel(key, str(product_id))
        pipe.expire(key, ctx.settings.cart_ttl_s)
        await pipe.execute()
