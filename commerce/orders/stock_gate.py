"""A Redis stock gate in front of the checkout transaction, for flash sales.

In a flash sale most requests arrive after the last unit is gone. Without a gate each of them
costs a DB transaction that queues on the one hot product row; with it they are rejected by one
Redis round trip. The gate is a hint, never the truth: `stockgate:{product_id}` holds an upper
bound of what the database has, and the conditional `UPDATE ... WHERE stock >= :q` alone
decides whether an order succeeds. Hence:

- `take` atomically (one Lua script over all lines) checks every line and decrements all or
  none. A key that is missing is loaded from the database with `SET NX` and a short TTL.
- A checkout that took units and then fails (DB says out of stock, validation, commit error,
  crash) gives them back (`give_back`); a release (cancel, expiry) adds them back after commit.
- Errors only push the gate in two directions. Too high (a give-back after a reload, a reload
  that read stock before an in-flight order committed): more requests reach the database, which
  rejects them; harmless. Too low (a process died between `take` and the give-back): false
  `out_of_stock` until the key's TTL ends and it is reloaded from the database. Neither can
  oversell, and the TTL bounds how long a wrong value lives.
- Adding units to a missing key would create a wrong value without a TTL, so `give_back` only
  touches keys that exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commerce.catalog.models import Product

KEY_PREFIX = "stockgate:"

# KEYS: gate keys, then a marker key or nothing; ARGV: quantities, then "1" to let missing
# keys through (after a reload found no such product: the database will answer 404/422 for
# it). Returns {1} taken, {0, i, available, marker exists 0/1} line i short, {-1, i...} lines
# whose key is missing.
_TAKE = """
local n = #ARGV - 1
local lenient = ARGV[n + 1] == '1'
local missing = {}
for i = 1, n do
  local v = redis.call('GET', KEYS[i])
  if not v then
    if not lenient then missing[#missing + 1] = i end
  elseif tonumber(v) < tonumber(ARGV[i]) then
    local marked = 0
    if #KEYS > n then marked = redis.call('EXISTS', KEYS[n + 1]) end
    return {0, i, tonumber(v), marked}
  end
end
if #missing > 0 then
  return {-1, unpack(missing)}
end
for i = 1, n do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECRBY', KEYS[i], ARGV[i]) end
end
return {1}
"""

_GIVE_BACK = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], ARGV[i]) end
end
return 1
"""


def key(product_id: int) -> str:
    return f"{KEY_PREFIX}{product_id}"


@dataclass(frozen=True)
class Rejected:
    """The gate knows this line cannot be served: answer 409 without touching the database."""

    product_id: int
    available: int
    # Whether the caller's `marker_key` existed (checked in the same round trip).
    marked: bool = False


class StockGate:
    def __init__(
        self,
        redis: aioredis.Redis,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ttl_s: int,
    ) -> None:
        self.redis = redis
        self.sessions = sessions
        self.ttl_s = ttl_s
        self._take = redis.register_script(_TAKE)
        self._give_back = redis.register_script(_GIVE_BACK)

    async def take(
        self, lines: Mapping[int, int], *, marker_key: str | None = None
    ) -> Rejected | None:
        """Take `lines` (product id → quantity) from the gate, or say which line is short.

        `marker_key`: a Redis key whose existence a rejection reports too, so a caller that
        must look for a replay on rejection (the idempotency marker) needs no second round
        trip: in a flash sale's flood the rejection path is the whole request.
        """
        ids = sorted(lines)
        keys = [key(pid) for pid in ids]
        if marker_key is not None:
            keys.append(marker_key)
        qty = [lines[pid] for pid in ids]
        lenient = "0"
        for _attempt in range(3):
            result = await self._take(keys=keys, args=[*qty, lenient])
            status = int(result[0])
            if status == 1:
                return None
            if status == 0:
                return Rejected(
                    product_id=ids[int(result[1]) - 1], available=int(result[2]),
                    marked=bool(int(result[3])),
                )
            await self.load([ids[int(i) - 1] for i in result[1:]])
            lenient = "1"
        return None  # unreachable in practice: the lenient pass never reports missing keys

    async def give_back(self, lines: Mapping[int, int]) -> None:
        """Return units taken by a checkout that did not commit, or released by an order."""
        if not lines:
            return
        ids = sorted(lines)
        await self._give_back(keys=[key(pid) for pid in ids], args=[lines[pid] for pid in ids])

    async def load(self, product_ids: list[int]) -> None:
        """(Re)load keys from the database; `SET NX` so a fresher concurrent load wins."""
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(Product.id, Product.stock).where(
                        Product.id.in_(product_ids), Product.is_deleted.is_(False)
                    )
                )
            ).all()
        if rows:
            async with self.redis.pipeline(transaction=False) as pipe:
                for pid, stock in rows:
                    pipe.set(key(pid), max(0, int(stock)), nx=True, ex=self.ttl_s)
                await pipe.execute()

    async def forget(self, product_ids: list[int]) -> None:
        """Drop keys so the next checkout reloads them (call after a seller edits stock)."""
        if product_ids:
            await self.redis.delete(*[key(pid) for pid in product_ids])
