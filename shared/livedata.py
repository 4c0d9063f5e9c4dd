"""Live data commerce keeps in Redis for the gateway: stream metadata and product snapshots.

Commerce writes these after each commit that changes them (stream create/update/end, product
create/update/delete, stock reservations and releases); the gateway only reads them, so it needs
neither the database nor an HTTP call per `join` or `pin`. One definition of keys and shapes
for both sides.
"""

from __future__ import annotations

from typing import Literal

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict

SNAPSHOT_TTL_S = 7 * 24 * 3600


class StreamMeta(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int
    host_id: int
    status: Literal["scheduled", "live", "ended"]
    title: str = ""
    product_ids: list[int] = []
    moderator_ids: list[int] = []


class ProductSnapshot(BaseModel):
    """What a pinned product shows in the room (the contract's `product` object)."""

    model_config = ConfigDict(extra="ignore")

    id: int
    name: str
    price: str  # two decimals, e.g. "1290.00"
    currency: str
    stock: int
    image_url: str | None = None
    seller_id: int | None = None


def stream_key(stream_id: int) -> str:
    return f"live:stream:{stream_id}"


def product_key(product_id: int) -> str:
    return f"live:product:{product_id}"


async def put_stream(redis: aioredis.Redis, meta: StreamMeta) -> None:
    await redis.set(stream_key(meta.id), meta.model_dump_json(), ex=SNAPSHOT_TTL_S * 4)


async def get_stream(redis: aioredis.Redis, stream_id: int) -> StreamMeta | None:
    raw = await redis.get(stream_key(stream_id))
    return StreamMeta.model_validate_json(raw) if raw else None


async def put_product(redis: aioredis.Redis, snapshot: ProductSnapshot) -> None:
    await redis.set(product_key(snapshot.id), snapshot.model_dump_json(), ex=SNAPSHOT_TTL_S)


async def delete_product(redis: aioredis.Redis, product_id: int) -> None:
    await redis.delete(product_key(product_id))


async def get_product(redis: aioredis.Redis, product_id: int) -> ProductSnapshot | None:
    raw = await redis.get(product_key(product_id))
    return ProductSnapshot.model_validate_json(raw) if raw else None


async def set_product_stock(redis: aioredis.Redis, product_id: int, stock: int) -> None:
    """Update only the stock of a cached snapshot (after reservations and releases)."""
    snapshot = await get_product(redis, product_id)
    if snapshot is not None:
        await put_product(redis, snapshot.model_copy(update={"stock": stock}))
