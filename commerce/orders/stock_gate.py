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
from commerce.orders.idempotency import MARKER_TTL_S
from shared.tokens import REVOKED_LUA, Principal, revocation_keys

KEY_PREFIX = "stockgate:"

# KEYS: the n gate keys; if keyed, the idempotency marker and the stored-rejection key; the
# revocation keys. ARGV: n (lines), "1" to let missing keys through (after a reload found no such
# product: the database will answer 404/422 for it), keyed (0/1), revocation key count (0: no
# check), the token's issued_at, the marker's TTL, the stored rejection's TTL, the request's
# digest, then the n quantities, then the n product ids. Returns {1} taken (and the marker set),
# {0, i, available, marker exists 0/1} line i short (its rejection stored unless the marker
# exists), {-1, i...} lines whose key is missing, {-2} the token is revoked, {-3, stored, marker
# exists 0/1} the key's first answer was a rejection (nothing taken in the last four).
_TAKE = REVOKED_LUA + """
local n = tonumber(ARGV[1])
local lenient = ARGV[2] == '1'
local keyed = ARGV[3] == '1'
local revocation = tonumber(ARGV[4])
local after = n
if keyed then after = n + 2 end
if revocation > 0 then
  local family = ''
  if revocation > 2 then family = KEYS[after + 3] end
  if revoked(KEYS[after + 1], KEYS[after + 2], family, ARGV[5]) then return {-2} end
end
if keyed then
  local stored = redis.call('GET', KEYS[n + 2])
  if stored then return {-3, stored, redis.call('EXISTS', KEYS[n + 1])} end
end
local missing = {}
for i = 1, n do
  local v = redis.call('GET', KEYS[i])
  if not v then
    if not lenient then missing[#missing + 1] = i end
  elseif tonumber(v) < tonumber(ARGV[8 + i]) then
    local marked = 0
    if keyed then
      marked = redis.call('EXISTS', KEYS[n + 1])
      if marked == 0 then
        -- Numbers as strings: cjson writes 14 significant digits, too few for a BIGINT id.
        local first = cjson.encode({d = ARGV[8], k = 'out_of_stock', p = ARGV[8 + n + i], a = v})
        redis.call('SET', KEYS[n + 2], first, 'NX', 'EX', ARGV[7])
      end
    end
    return {0, i, tonumber(v), marked}
  end
end
if #missing > 0 then
  return {-1, unpack(missing)}
end
for i = 1, n do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECRBY', KEYS[i], ARGV[8 + i]) end
end
if keyed then redis.call('SET', KEYS[n + 1], '1', 'EX', ARGV[6]) end
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
class Revoked:
    """The caller's token was revoked: answer 401; nothing was taken."""


REVOKED = Revoked()


@dataclass(frozen=True)
class KeyCheck:
    """A request's `Idempotency-Key`, checked and recorded in the take's round trip
    (`commerce.orders.idempotency`)."""

    marker_key: str
    rejection_key: str
    digest: str
    rejection_ttl_s: int
    marker_ttl_s: int = MARKER_TTL_S


@dataclass(frozen=True)
class FirstAnswer:
    """The key's first answer was a rejection (`idempotency.replay_rejection` reads it):
    replay it, or answer a conflict for another body; nothing was taken. `marked`: the success
    marker exists too (a concurrent retry may have committed since: look for its record)."""

    stored: str | bytes
    marked: bool


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
        self,
        lines: Mapping[int, int],
        *,
        key_check: KeyCheck | None = None,
        unrevoked: Principal | None = None,
    ) -> Rejected | Revoked | FirstAnswer | None:
        """Take `lines` (product id → quantity) from the gate, or say which line is short.

        Two checks ride along in the same round trip, because in a flash sale's flood the
        rejection path is the whole request:
        - `key_check`, the idempotency key: a rejection stored for it is returned
          (`FirstAnswer`) before anything else; a rejection reports whether the success marker
          exists (a caller must look for a replay before answering 409) and, if not, stores
          itself as the key's first answer; a take sets the marker (the checkout that follows
          may store a record under it: the marker must exist first);
        - `unrevoked`: a principal whose token must not be revoked (`shared.tokens`'s rule, run
          first): if it is, nothing is taken and `Revoked` is returned.
        """
        ids = sorted(lines)
        keys = [key(pid) for pid in ids]
        if key_check is not None:
            keys += [key_check.marker_key, key_check.rejection_key]
        revocation = revocation_keys(unrevoked) if unrevoked is not None else []
        keys.extend(revocation)
        head: list[str | int] = [
            len(ids), "0", int(key_check is not None), len(revocation),
            unrevoked.issued_at if unrevoked is not None else 0,
            key_check.marker_ttl_s if key_check else 0,
            key_check.rejection_ttl_s if key_check else 0, key_check.digest if key_check else "",
        ]
        tail = [*(lines[pid] for pid in ids), *ids]
        for _attempt in range(3):
            result = await self._take(keys=keys, args=[*head, *tail])
            status = int(result[0])
            if status == 1:
                return None
            if status == 0:
                return Rejected(
                    product_id=ids[int(result[1]) - 1], available=int(result[2]),
                    marked=bool(int(result[3])),
                )
            if status == -2:
                return REVOKED
            if status == -3:
                return FirstAnswer(result[1], marked=bool(int(result[2])))
            await self.load([ids[int(i) - 1] for i in result[1:]])
            head[1] = "1"
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
