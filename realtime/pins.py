"""Pinned products: host-only pin/unpin, the pin snapshot for late joiners, stock updates.

The pin lives in Redis (`room:{stream:<id>}:pin`, the product snapshot as the room shows it), so
every node answers `join` with the same `pinned`. An index `rooms.product_pins` -> stream ids
lets the relay send a product's `stock` / `sold_out` to every room where it is pinned, whichever
stream (if any) the commerce event came from, and keep each stored snapshot's `stock` current.

The pin is in its room's Redis Cluster slot, the index in its product's stock key's slot, so no
script touches both. The order of the steps keeps them consistent instead: a pin enters
the index before it is written and reads the stock after, so a concurrent stock change either
finds the written pin through the index or is read by the pin's second look. Index entries of a
pin replaced or removed are dropped by the pin or unpin that did it (and by the index's TTL if
that step was lost); a stock change only skips rooms whose pin is another product now.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import redis.asyncio as aioredis

from realtime import rooms
from realtime.sequence import RoomEvents
from realtime.streams import StreamCache
from shared.errors import Forbidden, NotFound, Unauthorized
from shared.livedata import SNAPSHOT_TTL_S, ProductSnapshot, StreamMeta, get_product, stock_key
from shared.redis import run_each
from shared.tokens import Principal

PIN_TTL_S = 7 * 24 * 3600
PRODUCT_FIELDS = ("id", "name", "price", "currency", "stock", "image_url")

# KEYS: pin. ARGV: snapshot json, ttl s, stock ('' unknown). Replaces the pin; returns the
# product id it replaced ('' none).
_PIN = """
local old = redis.call('GET', KEYS[1])
local snap = ARGV[1]
if ARGV[3] ~= '' then
  local t = cjson.decode(snap)
  t['stock'] = tonumber(ARGV[3])
  snap = cjson.encode(t)
end
redis.call('SET', KEYS[1], snap, 'EX', ARGV[2])
return old and tostring(cjson.decode(old)['id']) or ''
"""

# KEYS: pin. Returns the product id it removed ('' none).
_UNPIN = """
local old = redis.call('GET', KEYS[1])
if not old then return '' end
redis.call('DEL', KEYS[1])
return tostring(cjson.decode(old)['id'])
"""

# KEYS: pin. ARGV: product id, stock. Sets the stored snapshot's stock, keeping its TTL, if the
# room still pins that product; returns 1 then, else 0.
_RESTOCK = """
local raw = redis.call('GET', KEYS[1])
local snap = raw and cjson.decode(raw)
if not snap or tostring(snap['id']) ~= ARGV[1] then return 0 end
snap['stock'] = tonumber(ARGV[2])
local ttl = redis.call('TTL', KEYS[1])
if ttl > 0 then redis.call('SET', KEYS[1], cjson.encode(snap), 'EX', ttl)
else redis.call('SET', KEYS[1], cjson.encode(snap)) end
return 1
"""

# KEYS: product's stock, product's index. ARGV: stock, stock ttl s. Records the stock
# (`livedata.stock_key`) and returns the stream ids in the index.
_STOCK = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return redis.call('SMEMBERS', KEYS[2])
"""


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def room_product(snapshot: ProductSnapshot) -> dict[str, Any]:
    """The contract's `product` object (what the room shows; no seller internals)."""
    return snapshot.model_dump(include=set(PRODUCT_FIELDS))


class Pins:
    def __init__(
        self, *, redis: aioredis.Redis, streams: StreamCache, room_events: RoomEvents
    ) -> None:
        self.redis = redis
        self.streams = streams
        self.room_events = room_events
        self._pin = redis.register_script(_PIN)
        self._unpin = redis.register_script(_UNPIN)
        self._stock = redis.register_script(_STOCK)
        self._restock = redis.register_script(_RESTOCK)

    async def _host_stream(self, principal: Principal | None, stream_id: int) -> StreamMeta:
        if principal is None:
            raise Unauthorized("sign in as the host")
        meta = await self.streams.get(stream_id)
        if meta is None:
            raise NotFound("no such stream")
        if principal.user_id != meta.host_id:
            raise Forbidden("only the host can pin products")
        if meta.status == "ended":
            raise Forbidden("the stream has ended")
        return meta

    async def pin(
        self,
        *,
        principal: Principal | None,
        stream_id: int,
        product_id: int,
        flash_seconds: int | None = None,
    ) -> None:
        """Pin a lineup product; with `flash_seconds`, as a flash sale ending that much later
        (`flash_ends_at`, ISO 8601 UTC, in the snapshot late joiners get too)."""
        meta = await self._host_stream(principal, stream_id)
        if product_id not in meta.product_ids:
            raise NotFound("that product is not in this stream's lineup")
        snapshot = await get_product(self.redis, product_id)
        if snapshot is None:
            raise NotFound("no such product")
        product = room_product(snapshot)
        if flash_seconds is not None:
            ends = datetime.now(UTC) + timedelta(seconds=flash_seconds)
            product["flash_ends_at"] = ends.isoformat(timespec="milliseconds")
        index = rooms.product_pins(product_id)
        async with self.redis.pipeline(transaction=False) as pipe:  # one slot: the product's
            pipe.sadd(index, stream_id)
            pipe.expire(index, PIN_TTL_S)
            pipe.get(stock_key(product_id))
            _, _, stock = await pipe.execute()
        replaced = _text(await self._pin(
            keys=[rooms.pin(stream_id)], args=[orjson.dumps(product), PIN_TTL_S, _text(stock)]
        ))
        if replaced and replaced != str(product_id):
            await self.redis.srem(rooms.product_pins(int(replaced)), stream_id)
        # A stock change between the read above and the pin's write did not find the pin yet.
        again = await self.redis.get(stock_key(product_id))
        if again is not None and _text(again) != _text(stock):
            await self._restock(keys=[rooms.pin(stream_id)], args=[product_id, _text(again)])
        await self.room_events.emit(stream_id, "product_pinned", {"product": product})

    async def unpin(self, *, principal: Principal | None, stream_id: int) -> None:
        await self._host_stream(principal, stream_id)
        removed = _text(await self._unpin(keys=[rooms.pin(stream_id)]))
        if removed:
            await self.redis.srem(rooms.product_pins(int(removed)), stream_id)
            await self.room_events.emit(stream_id, "product_unpinned", {})

    async def stock_changed(self, product_id: int, stock: int) -> list[int]:
        """Record a product's new stock and update its stored pins; returns the streams where
        it is pinned. Called by the relay, one event at a time in the outbox's order."""
        indexed = [int(s) for s in await self._stock(
            keys=[stock_key(product_id), rooms.product_pins(product_id)],
            args=[stock, SNAPSHOT_TTL_S],
        )]
        pinned = await run_each(self.redis, self._restock, [
            ([rooms.pin(s)], [product_id, stock]) for s in indexed
        ])
        return sorted(s for s, hit in zip(indexed, pinned, strict=True) if int(hit))
