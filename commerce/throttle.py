"""Rate limits on the shared `limits` moving-window limiter (Redis): logins, sign-ups, search,
and the writes a bot repeats (orders, payment starts, cart writes; per user and per address).

Limits are settings in `limits` notation ("10/minute"); a refused hit becomes 429 `rate_limited`
with `Retry-After` = seconds until the oldest hit in the window expires (when one slot frees).
Every attempt counts, successful or not, and is counted before the work it guards (password
hashing, a search query), so parallel callers cannot overshoot the limit while that work runs.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from limits import RateLimitItem, parse
from limits.aio.strategies import RateLimiter, SlidingWindowCounterRateLimiter

from shared.errors import RateLimited
from shared.outage import redis_down

if TYPE_CHECKING:
    from commerce.context import AppContext


@functools.lru_cache(maxsize=32)
def _item(spec: str) -> RateLimitItem:
    return parse(spec)


async def enforce(limiter: RateLimiter, spec: str, scope: str, key: str) -> None:
    """Count one hit on `scope`/`key`; raise RateLimited when the limit is already used up."""
    item = _item(spec)
    if await limiter.hit(item, "auth", scope, key):
        return
    raise RateLimited(
        "too many attempts; try again later",
        retry_after=await _retry_after(limiter, item, scope, key),
    )


async def _retry_after(limiter: RateLimiter, item: RateLimitItem, scope: str, key: str) -> int:
    stats = await limiter.get_window_stats(item, "auth", scope, key)
    return max(1, math.ceil(stats.reset_time - time.time()))


@functools.lru_cache(maxsize=8)
def _counter(storage: object) -> SlidingWindowCounterRateLimiter:
    """A sliding-window counter on the same storage as the moving-window limiter.

    Why: the moving window keeps one list entry per hit and reads the entry `limit` back on
    every hit, so a key's cost grows with its limit; with thousands a minute per address (the
    orders limit) that made each checkout pay for a long list walk in Redis (the flash-sale
    benchmark fell to a fifth). The counter keeps two integers per key (this window and the
    last, weighted), O(1) per hit, at the price of approximating the window's edge."""
    return SlidingWindowCounterRateLimiter(storage)  # type: ignore[arg-type]


async def enforce_user_and_address(
    limiter: RateLimiter, *, action: str, per_user: str, per_ip: str, user_id: int, ip: str
) -> None:
    """Count one `action` for the user and for the address (both, concurrently: one Redis round
    trip of latency); 429 `rate_limited` if either limit is used up. Per user stops one account
    (and its many sessions); per address stops many throw-away accounts behind one address.
    High-volume limits: counted on a sliding-window counter (`_counter`)."""
    limiter = _counter(limiter.storage)
    user_item, ip_item = _item(per_user), _item(per_ip)
    user_key, ip_key = f"{action}-user", f"{action}-ip"
    user_ok, ip_ok = await asyncio.gather(
        limiter.hit(user_item, "auth", user_key, str(user_id)),
        limiter.hit(ip_item, "auth", ip_key, ip),
    )
    if user_ok and ip_ok:
        return
    item, scope, key = (user_item, user_key, str(user_id)) if not user_ok else (ip_item, ip_key, ip)
    raise RateLimited(
        f"too many {action.replace('_', ' ')} requests; try again later",
        retry_after=await _retry_after(limiter, item, scope, key),
    )


# The sliding-window counter as a Lua function (`hit_windows`), for scripts that count hits in
# their own round trip: the checkout's fast path counts an order's per-user and per-address
# hits together with everything else it checks (`OrderLimits`).
SLIDING_WINDOW_LUA = Path(__file__).with_name("throttle.lua").read_text(encoding="utf-8")
# `limits`' Redis storage prefixes its keys so (limits.aio.storage.RedisStorage.PREFIX).
_LIMITS_PREFIX = "LIMITS"


@dataclass(frozen=True, slots=True)
class Window:
    """One sliding-window counter as `limits` keeps it in Redis: its two keys (the same ones
    `SlidingWindowCounterRateLimiter` uses, so both count into one window), the limit and the
    window's length."""

    previous_key: str
    current_key: str
    limit: int
    expiry_s: int

    @classmethod
    def of(cls, spec: str, scope: str, key: str) -> Window:
        item = _item(spec)
        current = f"{_LIMITS_PREFIX}:{{{item.key_for('auth', scope, key)}}}"
        return cls(f"{current}/-1", current, item.amount, item.get_expiry())

    def retry_after(self, window: Sequence[int | float]) -> int:
        """Seconds until a slot frees, from the window `hit_windows` reports when it refuses:
        the arithmetic of `SlidingWindowCounterRateLimiter.get_window_stats`."""
        previous_count, previous_ms, current_count, current_ms = (float(v) for v in window)
        reset_in = math.inf
        if previous_count:
            reset_in = (previous_ms / 1000) % (self.expiry_s / previous_count)
        if current_count:
            reset_in = min(reset_in, (current_ms / 1000) % self.expiry_s)
        return max(1, math.ceil(reset_in)) if math.isfinite(reset_in) else 1


@functools.lru_cache(maxsize=4096)
def _window(spec: str, scope: str, key: str) -> Window:
    """`Window.of`, remembered for the buyers and addresses of the moment: a window's keys
    never change (the time is the script's business), and working them out through `limits`
    (parsing the spec, its key builder) was a few per cent of a sold-out answer's CPU."""
    return Window.of(spec, scope, key)


@dataclass(frozen=True, slots=True)
class OrderLimits:
    """The orders' per-user and per-address limits (`RATE_LIMIT_ORDERS_PER_USER`, `_PER_IP`),
    counted by the checkout's fast path in its own round trip (`windows`), or on their own
    (`enforce`) when the fast path does not run."""

    per_user: str
    per_ip: str

    def windows(self, *, user_id: int, ip: str) -> tuple[Window, Window]:
        return (_window(self.per_user, "orders-user", str(user_id)),
                _window(self.per_ip, "orders-ip", ip))

    @staticmethod
    def refused(window: Window, reported: Sequence[int | float]) -> RateLimited:
        return RateLimited("too many orders requests; try again later",
                           retry_after=window.retry_after(reported))

    async def enforce(self, limiter: RateLimiter, *, user_id: int, ip: str) -> None:
        await enforce_user_and_address(
            limiter, action="orders", per_user=self.per_user, per_ip=self.per_ip,
            user_id=user_id, ip=ip,
        )


Action = Literal["orders", "payments", "cart"]

# Actions whose service limits itself while Redis (the limiter's storage) is unreachable: the
# checkout sells from the database then, behind a per-process token bucket, and counts its
# per-user and per-address limits in the process's memory (commerce/orders/checkout/
# degraded.py), so the Redis limiter's failure is not a refusal here. (While the checkout knows
# Redis is down its routes do not ask the limiter at all: `Checkout.without_redis`.)
LIMITED_LOCALLY_WITHOUT_REDIS: frozenset[Action] = frozenset({"orders"})


async def enforce_action(
    ctx: AppContext, action: Action, *, user_id: int, ip: str
) -> None:
    """The per-user and per-address limits of one of the writes a bot repeats (settings
    `RATE_LIMIT_<ACTION>_PER_USER` / `_PER_IP`)."""
    settings = ctx.settings
    per_user, per_ip = {
        "orders": (settings.rate_limits.orders_per_user, settings.rate_limits.orders_per_ip),
        "payments": (settings.rate_limits.payments_per_user, settings.rate_limits.payments_per_ip),
        "cart": (settings.rate_limits.cart_per_user, settings.rate_limits.cart_per_ip),
    }[action]
    try:
        await enforce_user_and_address(
            ctx.limiter, action=action, per_user=per_user, per_ip=per_ip, user_id=user_id, ip=ip
        )
    except Exception as exc:
        if not (action in LIMITED_LOCALLY_WITHOUT_REDIS and redis_down(exc)):
            raise


async def allowed(limiter: RateLimiter, spec: str, scope: str, key: str) -> bool:
    """Whether `scope`/`key` has room left, without counting anything."""
    return await limiter.test(_item(spec), "auth", scope, key)


async def count(limiter: RateLimiter, spec: str, scope: str, key: str) -> None:
    """Count one hit (e.g. a failure, once known) whether or not the limit is used up."""
    await limiter.hit(_item(spec), "auth", scope, key)


async def refuse_if_used_up(limiter: RateLimiter, spec: str, scope: str, key: str) -> None:
    """429 `rate_limited` if `scope`/`key` has no room left; counts nothing."""
    item = _item(spec)
    if not await limiter.test(item, "auth", scope, key):
        raise RateLimited(
            "too many failed attempts; try again later",
            retry_after=await _retry_after(limiter, item, scope, key),
        )


async def reset(limiter: RateLimiter, spec: str, scope: str, key: str) -> None:
    await limiter.clear(_item(spec), "auth", scope, key)


def account_key(email: str) -> str:
    """Per-account limits key on a digest, so Redis holds no email addresses."""
    return hashlib.sha256(email.encode("utf-8")).hexdigest()[:32]
