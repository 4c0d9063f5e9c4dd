"""Catalog business logic: products, their search postings, stock events and live snapshots.

Each write owns one transaction holding the product row, its search bigrams and (for seller
stock changes) the outbox events, so the index and the events never disagree with the product.
After the commit the gateway's product snapshot in Redis is refreshed; a failure there is not
fatal to the write (the snapshot has a TTL and is rewritten on the next change).
"""

from __future__ import annotations

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.auth.models import User
from commerce.catalog import search
from commerce.catalog.models import Product
from commerce.catalog.schemas import ProductCreate, ProductUpdate
from commerce.context import AppContext
from commerce.db import transaction
from commerce.inventory import stock
from commerce.pagination import decode_cursor, decode_id_cursor, encode_cursor
from shared import livedata
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.money import MARKET_CURRENCY, from_minor

log = structlog.get_logger(__name__)
_IN_CHUNK = 500


def snapshot(product: Product) -> livedata.ProductSnapshot:
    """What the gateway shows for a pinned product (first image as the picture)."""
    return livedata.ProductSnapshot(
        id=product.id,
        name=product.name,
        price=from_minor(product.price_minor),
        currency=product.currency,
        stock=product.stock,
        image_url=product.images[0] if product.images else None,
        seller_id=product.seller_id,
    )


async def _publish_snapshot(ctx: AppContext, product: Product) -> None:
    """After a committed product write: the seller reads the catalog from the primary for a
    while (`commerce.replicas`), and the gateway's snapshot follows the product."""
    await ctx.reads.wrote(product.seller_id)
    try:
        if product.is_deleted:
            await livedata.delete_product(ctx.redis, product.id)
        else:
            await livedata.put_product(ctx.redis, snapshot(product))
    except Exception:  # Redis down must not turn a committed write into a 500
        log.exception("product_snapshot_failed", product_id=product.id)


async def get_product(session: AsyncSession, *, product_id: int) -> Product:
    """An active product, or 404 `not_found` (deleted products are gone for readers)."""
    product = await session.get(Product, product_id)
    if product is None or product.is_deleted:
        raise NotFound("product not found")
    return product


async def load_active_products(session: AsyncSession, ids: list[int]) -> dict[int, Product]:
    """The non-deleted products among `ids`, by id (missing or deleted ids are simply absent)."""
    found: dict[int, Product] = {}
    unique = sorted(set(ids))
    for start in range(0, len(unique), _IN_CHUNK):
        chunk = unique[start : start + _IN_CHUNK]
        rows = await session.scalars(
            select(Product).where(Product.id.in_(chunk), Product.is_deleted.is_(False))
        )
        found.update((product.id, product) for product in rows)
    return found


async def create_product(ctx: AppContext, *, seller_id: int, data: ProductCreate) -> Product:
    """A new product; its currency defaults to the seller's market (TW -> TWD, TH -> THB)."""
    async with transaction(ctx.sessions) as session:
        seller = await session.get(User, seller_id)
        if seller is None or not seller.is_active:  # a token may outlive its account
            raise Forbidden("account is not active")
        product = Product(
            seller_id=seller_id,
            name=data.name,
            description=data.description,
            price_minor=data.price,
            currency=data.currency or MARKET_CURRENCY.get(seller.market, "TWD"),
            stock=data.stock,
            limit_per_buyer=data.limit_per_buyer,
            attributes=data.attributes,
            images=data.images,
            is_deleted=False,
        )
        session.add(product)
        await session.flush()
        await search.reindex(session, product, new=True)
    await _publish_snapshot(ctx, product)
    return product


_COLUMNS = {"price": "price_minor"}  # schema field -> column, where they differ


async def update_product(ctx: AppContext, *, product_id: int, data: ProductUpdate) -> Product:
    """Apply the sent fields; a stock change also emits `stock.changed` (and `sold_out` at 0)."""
    changes = data.changes()
    async with transaction(ctx.sessions) as session:
        product = await session.scalar(
            select(Product).where(Product.id == product_id).with_for_update()
        )
        if product is None or product.is_deleted:
            raise NotFound("product not found")
        old_stock, old_limit = product.stock, product.limit_per_buyer
        for field, value in changes.items():
            setattr(product, _COLUMNS.get(field, field), value)
        if "name" in changes or "description" in changes:
            await search.reindex(session, product)
        stock_changed = "stock" in changes and product.stock != old_stock
        if stock_changed:
            await stock.edited(session, product_id=product.id, stock=product.stock)
        await session.flush()
    # The gate holds the stock and the limit per buyer: a new value of either is read again.
    if stock_changed or product.limit_per_buyer != old_limit:
        await ctx.stock_gate.forget([product.id])
    await _publish_snapshot(ctx, product)
    return product


async def delete_product(ctx: AppContext, *, product_id: int) -> None:
    """Soft delete: orders keep their reference; readers, search and carts stop seeing it."""
    async with transaction(ctx.sessions) as session:
        product = await session.scalar(
            select(Product).where(Product.id == product_id).with_for_update()
        )
        if product is None or product.is_deleted:
            raise NotFound("product not found")
        product.is_deleted = True
        await search.unindex(session, product.id)
        await session.flush()
    await ctx.stock_gate.forget([product.id])
    await _publish_snapshot(ctx, product)


async def list_products(
    session: AsyncSession,
    *,
    q: str | None,
    seller_id: int | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Product], str | None]:
    """A page of products: newest first, or by search rank when `q` is given."""
    if q is not None:
        return await _search_page(session, q=q, seller_id=seller_id, limit=limit, cursor=cursor)
    before = decode_id_cursor(cursor)
    stmt = select(Product).where(Product.is_deleted.is_(False))
    if seller_id is not None:
        stmt = stmt.where(Product.seller_id == seller_id)
    if before is not None:
        stmt = stmt.where(Product.id < before)
    products = list(await session.scalars(stmt.order_by(Product.id.desc()).limit(limit + 1)))
    more = len(products) > limit
    products = products[:limit]
    return products, encode_cursor(products[-1].id) if more else None


async def _search_page(
    session: AsyncSession, *, q: str, seller_id: int | None, limit: int, cursor: str | None
) -> tuple[list[Product], str | None]:
    query = search.prepare_query(q)
    key = decode_cursor(cursor, 4)
    after: search.RankKey | None = None
    if key is not None:
        if not all(isinstance(part, int) for part in key):
            raise InvalidInput("malformed cursor", code="invalid_cursor")
        tier, position, name_length, product_id = key
        after = (tier, position, name_length, -product_id)
    hits = await search.search(
        session, query=query, seller_id=seller_id, after=after, limit=limit + 1
    )
    more = len(hits) > limit
    hits = hits[:limit]
    by_id = await load_active_products(session, [hit.product_id for hit in hits])
    products = [by_id[hit.product_id] for hit in hits if hit.product_id in by_id]
    next_cursor = None
    if more:
        tier, position, name_length, negative_id = hits[-1].key
        next_cursor = encode_cursor(tier, position, name_length, -negative_id)
    return products, next_cursor

