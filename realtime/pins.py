"""Pinned products: host-only pin/unpin, the pin snapshot for late joiners, stock updates.

The pin lives in Redis (`room:{id}:pin`, the product snapshot as the room shows it), so every node
answers `join` with the same `pinned`. An index `pins:product:{id}` -> stream ids lets the relay
send a product's `stock` / `sold_out` to every room where it is pinned, whichever stream (if any)
the commerce event came from, and keep each stored snapshot's `stock` current.
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
from shared.tokens import Principal

PIN_TTL_S = 7 * 24 * 3600
PRODUCT_FIELDS = ("id", "name", "price", "currency", "stock", "image_url")

# KEYS: pin, new product's index, product's stock. ARGV: snapshot json, product id, stream id,
# ttl s, index tpl. Replaces the pin and moves the room between product indexes atomically; the
# stock is read here too, so a stock event relayed since the snapshot was read is not lost.
_PIN = """
local old = redis.call('GET', KEYS[1])
if old then
  local old_id = tostring(cjson.decode(old)['id'])
  redis.call('SREM', (string.gsub(ARGV[5], '{room}', old_id)), ARGV[3])
end
local snap = ARGV[1]
local stock = redis.call('GET', KEYS[3])
if stock then
  local t = cjson.decode(snap)
  t['stock'] = tonumber(stock)
  snap = cjson.encode(t)
end
redis.call('SET', KEYS[1], snap, 'EX', ARGV[4])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"""

# KEYS: pin. ARGV: stream id, index tpl. Returns 1 when something was pinned.
_UNPIN = """
local old = redis.call('GET', KEYS[1])
if not old then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', (string.gsub(ARGV[2], '{room}', tostring(cjson.decode(old)['id']))), ARGV[1])
return 1
"""

# KEYS: product index, product's stock. ARGV: product id, stock, pin tpl, stock ttl s. Records
# the stock (`livedata.stock_key`) and updates each room's snapshot; returns the stream ids where
# the product is still pinned (stale index entries are dropped).
_STOCK = """
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[4])
local out = {}
for _, s in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local pin_key = string.gsub(ARGV[3], '{room}', s)
  local raw = redis.call('GET', pin_key)
  local snap = raw and cjson.decode(raw)
  if snap and tostring(snap['id']) == ARGV[1] then
    local ttl = redis.call('TTL', pin_key)
    snap['stock'] = tonumber(ARGV[2])
    if ttl > 0 then redis.call('SET', pin_key, cjson.encode(snap), 'EX', ttl)
    else redis.call('SET', pin_key, cjson.encode(snap)) end
    table.insert(out, s)
  else
    redis.call('SREM', KEYS[1], s)
  end
end
return out
"""


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
        await self._pin(
            keys=[rooms.pin(stream_id), rooms.product_pins(product_id), stock_key(product_id)],
            args=[orjson.dumps(product), product_id, stream_id, PIN_TTL_S,
                  rooms.product_pins(rooms.ROOM)],
        )
        await self.room_events.emit(stream_id, "product_pinned", {"product": product})

    async def unpin(self, *, principal: Principal | None, stream_id: int) -> None:
        await self._host_stream(principal, stream_id)
        if await self._unpin(
            keys=[rooms.pin(stream_id)], args=[stream_id, rooms.product_pins(rooms.ROOM)]
        ):
            await self.room_events.emit(stream_id, "product_unpinned", {})

    async def stock_changed(self, product_id: int, stock: int) -> list[int]:
        """Record a product's new stock and update its stored pins; returns the streams where
        it is pinned. Called by the relay, one event at a time in the outbox's order."""
        out = await self._stock(
            keys=[rooms.product_pins(product_id), stock_key(product_id)],
            args=[product_id, stock, rooms.template("pin"), SNAPSHOT_TTL_S],
        )
        return sorted(int(s) for s in out)
