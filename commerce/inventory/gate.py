"""A Redis stock gate in front of the checkout transaction, for flash sales.

In a flash sale most requests arrive after the last unit is gone. Without a gate each of them
costs a DB transaction that queues on the one hot product row; with it they are rejected by one
Redis round trip. The gate is a hint, never the truth: `stockgate:{product_id}` holds an upper
bound of what the database has, and the conditional `UPDATE ... WHERE stock >= :q`
(`commerce.inventory.stock.reserve`) alone decides whether an order succeeds. Hence:

- `take` atomically (one Lua script over all lines, `gate.lua`) checks every line and
  decrements all or none. A key that is missing is loaded from the database with `SET NX` and
  a short TTL.
- A checkout that took units and then fails (DB says out of stock, validation, commit error,
  crash) gives them back (`give_back`); a release (cancel, expiry) adds them back after commit.
- Errors only push the gate in two directions. Too high (a give-back after a reload, a reload
  that read stock before an in-flight order committed): more requests reach the database, which
  rejects them; harmless. Too low (a process died between `take` and the give-back, e.g.
  SIGKILLed mid-group-commit, whose transaction the database rolled back): false
  `out_of_stock`. Neither can oversell. Each process reconciles the keys it used lately with
  the database every `ORDER_STOCK_GATE_RECONCILE_S` (`GateReconciler`): a key below the
  database's stock where neither the key nor that stock has moved for two passes is raised to
  it (a compare-and-set, so a take in between wins), which returns stranded units within about
  two passes instead of the key's TTL. The stock must hold still too: checkouts that took their
  units and are still queued for the hot row commit one after another and move it, and raising
  the key over their units then (a sale's last orders on a loaded machine, seen in CI) left it
  too high for good, by every unit in flight, once releases added theirs. Only a checkout
  stalled without any commit for that long can still make the key too high (harmless), and
  a key above the database's stock where neither has moved for two passes is lowered to it
  the same way: a key can only be above its stock by such an error (a take lowers the key
  before its order lowers the stock), so a too-high key does not send every request of the
  next sale's flood to the hot row. A stall of a second under load (CI: two API processes,
  49 orders waiting for the hot row) had left a key 49 units high after their expiry.
- Adding units to a missing key would create a wrong value without a TTL, so `give_back` only
  touches keys that exist.

On a Redis Cluster each product's key lives in its own slot, so an order of several products
cannot be taken in one script: `take` takes line by line there (ascending product id) and gives
back what it took when a later line is short or missing. Between the two another checkout may
see those units gone and be answered `out_of_stock` for them: the gate errs low for that
moment, which it already may (see above), and only for orders of several products.

The checkout's fast path (`commerce.orders.checkout.fastpath`) runs the same rule
(`STOCK_LUA`) in its own script, together with the rate limits, the Idempotency-Key and
revocation checks and the purchase caps, and loads missing keys through `with_loaded_keys`.

Purchase caps (issue 17) are hints here too, the checkout transaction being the truth
(`commerce.orders.checkout.caps`): `limit_key` holds a product's `limit_per_buyer` (0: none),
loaded and dropped with its stock key; `unpaid_key` and `units_key` count a buyer's unpaid
orders and units of a limited product as the fast path took them (one `{user:ID}` tag: one
slot per buyer). Their errors go the harmless way: a missing or expired counter starts at 0
(too low: the database answers), releases only lower them (`release`), and a value too high
(a process died holding a take) lives at most `ttl_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import redis.asyncio as aioredis
import structlog
from redis.asyncio.cluster import RedisCluster
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commerce.catalog.models import Product
from shared.redis import run_each

KEY_PREFIX = "stockgate:"
LIMIT_PREFIX = "stocklimit:"
# The rule as Lua functions (`check_stock`, `take_stock`), for scripts that run it.
STOCK_LUA = Path(__file__).with_name("gate.lua").read_text(encoding="utf-8")

# KEYS: the gate keys. ARGV[1]: '1' to let missing keys through; then the quantities.
# Returns {'taken'}, {'short', i, available} or {'missing', i, ...}; nothing is taken unless
# 'taken'.
_TAKE = STOCK_LUA + """
local lenient = ARGV[1] == '1'
local values = redis.call('MGET', unpack(KEYS))
local verdict, line, available = check_stock(values, 0, ARGV, 1, #KEYS, lenient)
if verdict == 'short' then return {'short', line, available} end
if verdict == 'missing' then return {'missing', unpack(line)} end
take_stock(KEYS, values, 0, ARGV, 1, #KEYS)
return {'taken'}
"""

# KEYS[1]: a gate key; ARGV: the value seen, the database's stock. Set only if unchanged.
_SETTLE = """
local v = redis.call('GET', KEYS[1])
if v and v == ARGV[1] and tonumber(v) ~= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
"""

_GIVE_BACK = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], ARGV[i]) end
end
return 1
"""

# `lower(key, by, floor, ttl_s)`: a purchase-cap counter goes down by `by`, never below
# `floor` or 0; a missing key is created only to hold a floor above 0 (the database's count).
LOWER_LUA = """
local function lower(key, by, floor, ttl_s)
  local value = tonumber(redis.call('GET', key))
  floor = tonumber(floor)
  if value == nil then
    if floor > 0 then redis.call('SET', key, floor, 'EX', ttl_s) end
    return
  end
  redis.call('SET', key, math.max(value - tonumber(by), floor, 0), 'KEEPTTL')
end
"""

# After a committed release or payment, one buyer's counters (one slot): KEYS = the unpaid
# key, then units keys (n); ARGV = the units (n), the ttl, '1' when an unpaid order closed.
# The unpaid key is passed even when it is not lowered: a placeholder key ('') would hash to
# another Redis Cluster slot than the buyer's and the call would be refused there.
_RELEASE_BUYER = LOWER_LUA + """
local n = #KEYS - 1
for i = 1, n do lower(KEYS[1 + i], ARGV[i], 0, ARGV[n + 1]) end
if ARGV[n + 2] == '1' then lower(KEYS[1], 1, 0, ARGV[n + 1]) end
return 1
"""

R = TypeVar("R")
log = structlog.get_logger(__name__)


def key(product_id: int) -> str:
    return f"{KEY_PREFIX}{product_id}"


def limit_key(product_id: int) -> str:
    """The product's `limit_per_buyer` as the gate knows it (0: no limit)."""
    return f"{LIMIT_PREFIX}{product_id}"


def unpaid_key(buyer_id: int) -> str:
    """The buyer's unpaid orders as the fast path counted them. Tagged by buyer, so one
    buyer's counters share a Redis Cluster slot."""
    return f"buyercap:{{user:{buyer_id}}}:unpaid"


def units_key(buyer_id: int, product_id: int) -> str:
    """Units of a limited product the buyer holds, as the fast path counted them."""
    return f"buyercap:{{user:{buyer_id}}}:units:{product_id}"


@dataclass(frozen=True)
class Short:
    """The gate knows this line cannot be served: answer 409 without touching the database."""

    product_id: int
    available: int


@dataclass(frozen=True)
class Missing:
    """Lines (1-based, in the script's order) whose gate key does not exist yet."""

    lines: tuple[int, ...]


class GateError(RuntimeError):
    """A script reported missing keys on its lenient pass, which it never may."""


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
        self._exists = redis.register_script("return redis.call('EXISTS', KEYS[1])")
        self._settle = redis.register_script(_SETTLE)
        self._release_buyer = redis.register_script(_RELEASE_BUYER)
        # Products this process used the gate for lately (id -> monotonic time), which its
        # `GateReconciler` keeps in line with the database.
        self.touched: dict[int, float] = {}

    @property
    def one_slot_per_product(self) -> bool:
        """Whether Redis is a cluster, where no script may touch two products' keys."""
        return isinstance(self.redis, RedisCluster)

    async def take(self, lines: Mapping[int, int]) -> Short | None:
        """Take `lines` (product id → quantity) from the gate (None), or say which is short."""
        ids = sorted(lines)
        quantities = [lines[pid] for pid in ids]

        async def attempt(lenient: bool) -> Short | Missing | None:
            if len(ids) > 1 and self.one_slot_per_product:
                return await self._take_line_by_line(ids, quantities, lenient)
            return self._verdict(ids, await self._take(
                keys=[key(pid) for pid in ids], args=[int(lenient), *quantities]
            ))

        return await self.with_loaded_keys(attempt, ids)

    @staticmethod
    def _verdict(ids: Sequence[int], result: Sequence[object]) -> Short | Missing | None:
        verdict = str(result[0])
        if verdict == "taken":
            return None
        if verdict == "short":
            return Short(product_id=ids[int(str(result[1])) - 1], available=int(str(result[2])))
        return Missing(tuple(int(str(i)) for i in result[1:]))

    async def _take_line_by_line(
        self, ids: Sequence[int], quantities: Sequence[int], lenient: bool
    ) -> Short | Missing | None:
        """`take` on a Redis Cluster (see the module docstring): all lines or none, not at once."""
        if not lenient:  # every missing key at once, as the one script reports them
            exists = await run_each(self.redis, self._exists, [([key(pid)], []) for pid in ids])
            if missing := tuple(i for i, e in enumerate(exists, start=1) if not int(e)):
                return Missing(missing)
        taken: dict[int, int] = {}
        for i, (pid, quantity) in enumerate(zip(ids, quantities, strict=True), start=1):
            outcome = self._verdict([pid], await self._take(
                keys=[key(pid)], args=[int(lenient), quantity]
            ))
            if isinstance(outcome, Missing):
                outcome = Missing((i,))
            elif outcome is None:
                taken[pid] = quantity
                continue
            await self.give_back(taken)
            return outcome
        return None

    async def with_loaded_keys(
        self, attempt: Callable[[bool], Awaitable[R | Missing]], ids: Sequence[int]
    ) -> R:
        """Run a script that applies the gate's rule to `ids` (in this order): if it reports
        `Missing` keys, load them from the database and run it once more, letting keys that
        are still missing through (no such product: the database will answer for it)."""
        now = time.monotonic()
        for pid in ids:
            self.touched[pid] = now
        result = await attempt(False)
        if not isinstance(result, Missing):
            return result
        await self.load([ids[i - 1] for i in result.lines])
        result = await attempt(True)
        if isinstance(result, Missing):
            raise GateError(f"the stock gate reported missing keys when lenient: {result}")
        return result

    async def give_back(self, lines: Mapping[int, int]) -> None:
        """Return units taken by a checkout that did not commit, or released by an order."""
        if not lines:
            return
        ids = sorted(lines)
        if len(ids) > 1 and self.one_slot_per_product:
            await run_each(self.redis, self._give_back,
                           [([key(pid)], [lines[pid]]) for pid in ids])
            return
        await self._give_back(keys=[key(pid) for pid in ids], args=[lines[pid] for pid in ids])

    async def release(
        self, lines: Mapping[int, int], *, buyer_id: int | None, unpaid_closed: bool
    ) -> None:
        """After a committed release or payment: units back to the stock keys that exist
        (`give_back`), and the buyer's cap counters lowered (`unpaid_closed`: an unpaid order
        was paid, cancelled or expired; `lines`: units the buyer no longer holds)."""
        await self.give_back(lines)
        if buyer_id is None or not (lines or unpaid_closed):
            return
        ids = sorted(lines)
        await self._release_buyer(
            keys=[unpaid_key(buyer_id), *(units_key(buyer_id, pid) for pid in ids)],
            args=[*(lines[pid] for pid in ids), self.ttl_s, "1" if unpaid_closed else "0"],
        )

    async def load(self, product_ids: list[int]) -> None:
        """(Re)load keys from the database, the stock and the limit per buyer together, with
        one TTL; `SET NX` so a fresher concurrent load wins."""
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(Product.id, Product.stock, Product.limit_per_buyer).where(
                        Product.id.in_(product_ids), Product.is_deleted.is_(False)
                    )
                )
            ).all()
        if rows:
            async with self.redis.pipeline(transaction=False) as pipe:
                for pid, stock, limit in rows:
                    pipe.set(key(pid), max(0, int(stock)), nx=True, ex=self.ttl_s)
                    pipe.set(limit_key(pid), int(limit or 0), nx=True, ex=self.ttl_s)
                await pipe.execute()

    async def forget(self, product_ids: list[int]) -> None:
        """Drop keys so the next checkout reloads them (call after a seller edits stock or
        the limit per buyer). A pipeline: a product's two keys live in different slots on a
        Redis Cluster."""
        if product_ids:
            async with self.redis.pipeline(transaction=False) as pipe:
                for pid in product_ids:
                    pipe.delete(key(pid))
                    pipe.delete(limit_key(pid))
                await pipe.execute()

    async def reconcile(
        self, seen: Mapping[int, tuple[str, int]]
    ) -> tuple[dict[int, tuple[str, int]], int]:
        """One reconciliation pass over the keys this process used within their TTL: a key
        that differs from the database's stock where both still hold what was `seen` one pass
        ago is set to the stock, raised or lowered (module doc). Returns what this pass saw
        differ (for the next pass) and how many keys it set."""
        horizon = time.monotonic() - self.ttl_s
        for pid in [pid for pid, at in self.touched.items() if at < horizon]:
            del self.touched[pid]
        ids = sorted(self.touched)
        if not ids:
            return {}, 0
        async with self.redis.pipeline(transaction=False) as pipe:  # keys of many slots
            for pid in ids:
                pipe.get(key(pid))
            values = await pipe.execute()
        async with self.sessions() as session:
            stocks = dict((await session.execute(
                select(Product.id, Product.stock).where(Product.id.in_(ids))
            )).tuples().all())
        differ: dict[int, tuple[str, int]] = {}
        settled = 0
        for pid, value in zip(ids, values, strict=True):
            if value is None or pid not in stocks:
                continue
            held = value.decode() if isinstance(value, bytes) else str(value)
            stock = int(stocks[pid])
            if int(held) == stock:
                continue
            if seen.get(pid) == (held, stock):
                settled += int(await self._settle(keys=[key(pid)], args=[held, stock]))
            else:
                differ[pid] = (held, stock)
        return differ, settled


class GateReconciler:
    """Every `interval_s`, one `StockGate.reconcile` pass (each API process runs one): units a
    dead process took and never returned go back within about two passes, and a key left above
    its stock comes down to it as soon."""

    def __init__(self, gate: StockGate, *, interval_s: float) -> None:
        self.gate = gate
        self.interval_s = interval_s
        self._stopping = asyncio.Event()
        self.settled = 0

    async def run(self) -> None:
        seen: dict[int, tuple[str, int]] = {}
        while not self._stopping.is_set():
            try:
                seen, settled = await self.gate.reconcile(seen)
                if settled:
                    self.settled += settled
                    log.warning("stock_gate_keys_settled", keys=settled)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis or the database down: the next pass retries
                seen = {}
                log.warning("stock_gate_reconcile_failed", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_s)

    def stop(self) -> None:
        self._stopping.set()
