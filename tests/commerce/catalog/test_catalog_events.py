"""What a product write leaves behind: outbox events for seller stock changes, the gateway's
snapshot in Redis, the helpers other domains use, and identical search on SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy import select

from commerce.catalog import service
from commerce.catalog.schemas import ProductUpdate
from commerce.context import AppContext
from commerce.outbox import OutboxEvent
from shared import events as ev
from shared import livedata
from shared.settings import CommerceSettings
from tests.commerce.factories import make_product, make_user
from tests.conftest import migrate


async def outbox(ctx: AppContext) -> list[ev.DomainEvent]:
    async with ctx.sessions() as session:
        rows = await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        return [ev.decode(row.payload) for row in rows]


async def test_stock_patch_emits_events_in_the_same_transaction(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, headers = await make_user(ctx, "seller")
    product = await make_product(ctx, seller, stock=5)
    url = f"/api/v1/products/{product.id}"
    assert await outbox(ctx) == []  # creating emits nothing

    await api.patch(url, json={"stock": 2}, headers=headers)
    await api.patch(url, json={"stock": 2, "price": "5.00"}, headers=headers)  # unchanged stock
    await api.patch(url, json={"stock": 0}, headers=headers)
    events = await outbox(ctx)
    assert [type(e) for e in events] == [ev.StockChanged, ev.StockChanged, ev.ProductSoldOut]
    assert [e.data.model_dump() for e in events] == [
        {"product_id": product.id, "stock": 2},
        {"product_id": product.id, "stock": 0},
        {"product_id": product.id},
    ]
    assert all(e.stream_id is None for e in events)

    # A refused patch leaves neither a change nor an event behind.
    assert (await api.patch(url, json={"stock": -1}, headers=headers)).status_code == 422
    assert len(await outbox(ctx)) == 3


async def test_snapshot_follows_the_product(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, headers = await make_user(ctx, "seller", market="TH")
    created = await api.post(
        "/api/v1/products",
        json={
            "name": "หูฟัง",
            "price": "499.00",
            "stock": 3,
            "images": ["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.jpg"],
        },
        headers=headers,
    )
    product_id = created.json()["id"]
    snap = await livedata.get_product(ctx.redis, product_id)
    assert snap == livedata.ProductSnapshot(
        id=product_id, name="หูฟัง", price="499.00", currency="THB", stock=3,
        image_url="https://cdn.example.com/a.jpg", seller_id=seller.id,
    )
    assert await ctx.redis.ttl(livedata.product_key(product_id)) > 0

    url = f"/api/v1/products/{product_id}"
    await api.patch(url, json={"stock": 1, "price": 450, "images": []}, headers=headers)
    snap = await livedata.get_product(ctx.redis, product_id)
    assert snap is not None
    assert (snap.stock, snap.price, snap.image_url) == (1, "450.00", None)

    await api.delete(url, headers=headers)
    assert await livedata.get_product(ctx.redis, product_id) is None


async def test_load_active_products_skips_missing_and_deleted(ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller")
    kept = await make_product(ctx, seller)
    gone = await make_product(ctx, seller)
    await service.delete_product(ctx, product_id=gone.id)
    async with ctx.sessions() as session:
        found = await service.load_active_products(session, [kept.id, gone.id, 10**9, kept.id])
    assert list(found) == [kept.id]
    assert service.snapshot(found[kept.id]).price == "100.00"


async def test_search_is_identical_on_sqlite(
    tmp_path: Path, commerce_settings: CommerceSettings, ctx: AppContext
) -> None:
    """The same products and queries give the same ranked pages on SQLite and MariaDB."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'catalog.db'}"
    await asyncio.to_thread(migrate, url)  # alembic runs its own event loop
    lite = AppContext.build(commerce_settings.model_copy(update={"database_url": url}))
    try:
        results = []
        for context in (ctx, lite):
            seller, _ = await make_user(context, "seller", email="same@example.test")
            for name, description in [
                ("藍牙耳機", ""), ("หูฟังบลูทูธ", "ฟังเพลง"), ("Bluetooth Earbuds", "blue"),
                ("Sony 藍牙 หูฟัง", "耳機"), ("ลำโพง", "หูฟัง"), ("BLUE case", ""),
            ]:
                await make_product(context, seller, name=name, description=description)
            async with context.sessions() as session:
                pages = []
                for q in ("耳機", "ฟัง", "blue", "藍牙"):
                    first, cursor = await service.list_products(
                        session, q=q, seller_id=None, limit=1, cursor=None
                    )
                    rest, _ = await service.list_products(
                        session, q=q, seller_id=None, limit=10, cursor=cursor
                    )
                    pages.append((q, [p.name for p in first + rest]))
            results.append(pages)
        assert results[0] == results[1]
        assert dict(results[0])["ฟัง"] == ["หูฟังบลูทูธ", "Sony 藍牙 หูฟัง", "ลำโพง"]
    finally:
        await lite.close()


async def test_concurrent_writes_do_not_deadlock(ctx: AppContext) -> None:
    """Creates and renames of different products run side by side on MariaDB without the
    bigram index's gap locks turning them into deadlocks."""
    seller, _ = await make_user(ctx, "seller")
    created = await asyncio.gather(
        *(make_product(ctx, seller, name=f"藍牙耳機 {i}", description="หูฟัง " * i)
          for i in range(20))
    )
    await asyncio.gather(
        *(service.update_product(
            ctx, product_id=p.id,
            data=ProductUpdate.model_validate({"name": f"ลำโพง {i}", "description": "speaker"}),
        ) for i, p in enumerate(created))
    )
    async with ctx.sessions() as session:
        page, _ = await service.list_products(
            session, q="ลำโพ", seller_id=None, limit=100, cursor=None
        )
    assert len(page) == 20
