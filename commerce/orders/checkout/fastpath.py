"""The checkout's fast path: one Redis round trip (`fastpath.lua`) that counts the order against
its rate limits, checks the token's revocation, the Idempotency-Key's stored rejection and the
buyer's purchase caps, then takes the order's units from the stock gate, because in a flash
sale's flood the rejection path is the whole request.

- `rate`: the per-user and per-address order windows (`commerce.throttle.OrderLimits`), counted
  first, both of them, as `limits`' sliding-window counter would (same keys, same arithmetic):
  every attempt counts. Past either, the answer is `Limited` (429 with Retry-After, from the
  window the script reports); nothing else is looked at.
- `unrevoked`: a principal whose token must not be revoked (`shared.tokens`' rule); if it is,
  nothing is taken and the answer is `Revoked`. If this Redis run has not had the marks
  restored from the database (it restarted or lost data since), Redis cannot tell, and the
  answer is `RevocationUnknown` (nothing taken): the caller asks the database, as the slow
  path does, and runs the fast path again without the revocation check (nor the count).
- `answer`, the Idempotency-Key: a rejection stored for it comes back (`Answered`) before the
  caps and the stock are looked at; a cap or a short line reports whether the success marker
  exists (the caller must look for a stored success before answering 409) and, if not, stores
  itself as the key's first answer; a take sets the marker (the checkout that follows may
  store a success under it: the marker must exist first).
- The purchase caps (issue 17), hints in front of the transaction's count (`caps`): the
  buyer's unpaid orders and units of each limited product as taken here
  (`inventory.gate.unpaid_key`/`units_key`), against `MAX_UNPAID_ORDERS_PER_BUYER` and the
  products' `limit_per_buyer` (`inventory.gate.limit_key`, loaded with the stock). Past one,
  `Capped` (409 `purchase_limit`). A take counts the order in them (`Hold` says what), and a
  checkout that does not commit gives it back (`give_back`), never below what the database
  counted when it refused the order.
- The stock: the gate's own rule (`commerce.inventory.gate.STOCK_LUA`), with missing keys
  loaded from the database by the gate (`StockGate.with_loaded_keys`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from commerce.inventory.gate import (
    LOWER_LUA,
    STOCK_LUA,
    Missing,
    StockGate,
    limit_key,
    units_key,
    unpaid_key,
)
from commerce.inventory.gate import key as gate_key
from commerce.orders.checkout.answers import AnswerKey, FirstAnswers
from commerce.orders.errors import PurchaseLimit
from commerce.throttle import SLIDING_WINDOW_LUA, Window
from shared.redis import REDIS_RUN_LUA
from shared.redis_run import THIS_RUN, knows_runs
from shared.tokens import REVOKED_LUA, Principal, revocation_keys, revocations_run_key

_SCRIPT = (REVOKED_LUA + REDIS_RUN_LUA + STOCK_LUA + SLIDING_WINDOW_LUA
           + Path(__file__).with_name("fastpath.lua").read_text("utf-8"))

# A checkout that did not commit gives back what its take counted. KEYS: the stock keys (n),
# the unpaid key ('' when untouched), the units keys (n; '' where untouched). ARGV: the
# quantities (n), the units counted (n), the unpaid orders counted (0 or 1), the unpaid floor,
# the units floors (n), the counters' TTL.
_GIVE_BACK = LOWER_LUA + """
local n = (#KEYS - 1) / 2
local ttl_s = ARGV[3 * n + 3]
for i = 1, n do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], ARGV[i]) end
  if KEYS[n + 1 + i] ~= '' then lower(KEYS[n + 1 + i], ARGV[n + i], ARGV[2 * n + 2 + i], ttl_s) end
end
if KEYS[n + 1] ~= '' then lower(KEYS[n + 1], ARGV[2 * n + 1], ARGV[2 * n + 2], ttl_s) end
return 1
"""


@dataclass(frozen=True, slots=True)
class Hold:
    """What a take counted for its buyer (given back if the checkout does not commit): one
    unpaid order (`unpaid`), and the units of the products in `limited`."""

    buyer_id: int
    unpaid: bool
    limited: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Taken:
    """The units were taken from the gate, the order counted in its buyer's caps (`hold`) and
    the key's marker set: go to the database."""

    hold: Hold


@dataclass(frozen=True, slots=True)
class Limited:
    """A rate limit is used up: answer 429 with `retry_after`; nothing else was looked at."""

    window: Window
    reported: tuple[int, ...]

    @property
    def retry_after(self) -> int:
        return self.window.retry_after(self.reported)


@dataclass(frozen=True, slots=True)
class Revoked:
    """The caller's token was revoked: answer 401; nothing was taken."""


@dataclass(frozen=True, slots=True)
class RevocationUnknown:
    """Redis holds no verdict on the token (its marks are not restored into this Redis run):
    ask the database; nothing was taken."""


@dataclass(frozen=True, slots=True)
class Answered:
    """The key's first answer was a rejection (`FirstAnswers.replay` reads `stored`): replay
    it, or answer a conflict for another body; nothing was taken. `marked`: the success marker
    exists too (a concurrent retry may have committed since: look for its record)."""

    stored: str | bytes
    marked: bool


@dataclass(frozen=True, slots=True)
class Rejected:
    """The gate knows this line cannot be served: answer 409 without touching the database.
    `marked`: the key's success marker exists (checked in the same round trip)."""

    product_id: int
    available: int
    marked: bool = False


@dataclass(frozen=True, slots=True)
class Capped:
    """The buyer's counters say this order passes a purchase cap: answer 409 `purchase_limit`
    (`error`) without touching the database. `marked`: as for `Rejected`."""

    error: PurchaseLimit
    marked: bool = False


Result = Taken | Limited | Revoked | RevocationUnknown | Answered | Rejected | Capped
REVOKED = Revoked()
REVOCATION_UNKNOWN = RevocationUnknown()
_NO_WINDOWS = ("", "", "", "")


class FastPath:
    def __init__(
        self, gate: StockGate, answers: FirstAnswers, *, max_unpaid_orders: int = 0
    ) -> None:
        self.gate = gate
        self.answers = answers
        self.max_unpaid_orders = max_unpaid_orders  # 0: no cap
        self._script = gate.redis.register_script(_SCRIPT)
        self._give_back = gate.redis.register_script(_GIVE_BACK)
        self._configs: dict[tuple[int, int, int, int], bytes] = {}
        # The Redis run the revocation marks must have been restored into: the run of the
        # connection the call goes out on (shared/redis_run.py), or '' for the script to ask
        # Redis (`INFO server`, ~8 µs of Redis per call) where connections do not know it.
        self._this_run = THIS_RUN if knows_runs(gate.redis) else ""

    def _config(self, rate: tuple[Window, Window] | None) -> bytes:
        """The script's constants in one argument (see fastpath.lua): they are the same for
        every call with the same limits, and each argument costs redis-py an encoding a call."""
        limits = (rate[0].limit, rate[0].expiry_s, rate[1].limit, rate[1].expiry_s) if rate \
            else (0, 0, 0, 0)
        if (config := self._configs.get(limits)) is None:
            values = (self.answers.marker_ttl_s, self.answers.rejection_ttl_s, *limits,
                      self.max_unpaid_orders, self.gate.ttl_s)
            config = self._configs[limits] = " ".join(str(int(v)) for v in values).encode()
        return config

    async def take(
        self,
        lines: Mapping[int, int],
        *,
        buyer_id: int,
        answer: AnswerKey | None = None,
        unrevoked: Principal | None = None,
        rate: tuple[Window, Window] | None = None,
    ) -> Result:
        """Take `lines` (product id → quantity) from the stock gate for `buyer_id`, after the
        checks above."""
        ids = sorted(lines) if len(lines) > 1 else list(lines)
        revocation = revocation_keys(unrevoked) if unrevoked is not None else ()
        windows = (rate[0].previous_key, rate[0].current_key,
                   rate[1].previous_key, rate[1].current_key) if rate else _NO_WINDOWS
        head_keys = (
            answer.marker_key if answer else "", answer.rejection_key if answer else "",
            *(*revocation, "", "", "")[:3],
            revocations_run_key() if unrevoked is not None else "",
        )
        line_keys = (
            unpaid_key(buyer_id),
            *(gate_key(pid) for pid in ids), *(limit_key(pid) for pid in ids),
            *(units_key(buyer_id, pid) for pid in ids),
        )
        head = (
            b"1" if answer is not None else b"0", b"1" if unrevoked is not None else b"0",
            unrevoked.issued_at if unrevoked is not None else 0,
            answer.digest if answer else "",
        )
        config = self._config(rate)
        tail = (*(lines[pid] for pid in ids), *ids, self._this_run)  # THIS_RUN: last

        async def attempt(lenient: bool) -> Result | Missing:
            # The lenient pass follows a pass that counted the hits already.
            counted = _NO_WINDOWS if lenient else windows
            result = await self._script(
                keys=(*head_keys, *counted, *line_keys),
                args=(*head, b"1" if lenient else b"0", config, *tail),
            )
            verdict = str(result[0])
            if verdict == "taken":
                limited = frozenset(ids[int(i) - 1] for i in result[2:])
                return Taken(Hold(buyer_id, bool(int(result[1])), limited))
            if verdict == "short":
                return Rejected(product_id=ids[int(result[1]) - 1], available=int(result[2]),
                                marked=bool(int(result[3])))
            if verdict == "capped":
                line, limit = int(result[1]), int(result[2])
                error = (
                    PurchaseLimit(limit=limit, kind=PurchaseLimit.PER_PRODUCT,
                                  product_id=ids[line - 1])
                    if line else PurchaseLimit(limit=limit, kind=PurchaseLimit.UNPAID_ORDERS)
                )
                return Capped(error, marked=bool(int(result[3])))
            if verdict == "answered":
                return Answered(result[1], marked=bool(int(result[2])))
            if verdict == "limited":
                assert rate is not None
                return Limited(rate[int(result[1]) - 1], tuple(int(v) for v in result[2:]))
            if verdict == "revoked":
                return REVOKED
            if verdict == "unknown":
                return REVOCATION_UNKNOWN
            if verdict == "missing":
                return Missing(tuple(int(i) for i in result[1:]))
            raise ValueError(f"fastpath.lua answered {verdict!r}")

        return await self.gate.with_loaded_keys(attempt, ids)

    async def give_back(
        self, lines: Mapping[int, int], hold: Hold, *, refused: PurchaseLimit | None = None
    ) -> None:
        """Give back what a take counted, for a checkout that did not commit: the units to
        the stock keys, the order to the buyer's counters. `refused`: the database refused the
        order for a cap, counting `refused.held`; the counter of that cap is left no lower
        (the database's count is the truth the gate missed, e.g. after its key expired)."""
        ids = sorted(lines)
        unpaid_floor = units_floor = 0
        if refused is not None:
            if refused.kind == PurchaseLimit.UNPAID_ORDERS:
                unpaid_floor = refused.held
            else:
                units_floor = refused.held
        floors = [
            units_floor if refused is not None and pid == refused.product_id else 0
            for pid in ids
        ]
        await self._give_back(
            keys=[
                *(gate_key(pid) for pid in ids),
                unpaid_key(hold.buyer_id) if hold.unpaid or unpaid_floor else "",
                *(units_key(hold.buyer_id, pid) if pid in hold.limited or floor else ""
                  for pid, floor in zip(ids, floors, strict=True)),
            ],
            args=[
                *(lines[pid] for pid in ids),
                *(lines[pid] if pid in hold.limited else 0 for pid in ids),
                int(hold.unpaid), unpaid_floor, *floors, self.gate.ttl_s,
            ],
        )
