"""Live data in Redis for the gateway: stream metadata and product snapshots.

Commerce writes these after each commit that changes them (stream create/update/end, product
create/update/delete); the gateway reads them, so it needs neither the database nor an HTTP call
per `join` or `pin`. One definition of keys and shapes for both sides.

A product's stock changes with every order, in transactions of several API processes whose
after-commit writes can reach Redis in any order, so a stock written there could end on an older
value (a sold-out product showing units left). The stock has a key of its own instead
(`stock_key`), written only by the gateway's relay from `stock.changed` events, which it applies
one at a time in the outbox's order, and for one product that is commit order (each event is
written while its transaction holds the product row's lock). `get_product` reads both keys and
the stock key wins; the snapshot's own `stock` (the database's at its write) stands until the
product's first stock event.
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


def stock_key(product_id: int) -> str:
    """The product's stock as of the last `stock.changed` event the gateway relayed."""
    return f"live:product:{product_id}:stock"


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
    """The snapshot with the relayed stock, when there is one (one round trip)."""
    # Two slots on a Redis Cluster (names kept from before it: the snapshots outlive deploys):
    # a non-transactional pipeline is one round trip on one Redis and is split by the cluster.
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(product_key(product_id))
        pipe.get(stock_key(product_id))
        raw, stock = await pipe.execute()
    if not raw:
        return None
    snapshot = ProductSnapshot.model_validate_json(raw)
    return snapshot if stock is None else snapshot.model_copy(update={"stock": int(stock)})
