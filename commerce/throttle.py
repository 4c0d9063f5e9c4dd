"""Rate limits on the shared `limits` moving-window limiter (Redis): logins, sign-ups, search.

Limits are settings in `limits` notation ("10/minute"); a refused hit becomes 429 `rate_limited`
with `Retry-After` = seconds until the oldest hit in the window expires (when one slot frees).
Every attempt counts, successful or not, and is counted before the work it guards (password
hashing, a search query), so parallel callers cannot overshoot the limit while that work runs.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time

from limits import RateLimitItem, parse
from limits.aio.strategies import RateLimiter

from shared.errors import RateLimited


@functools.lru_cache(maxsize=32)
def _item(spec: str) -> RateLimitItem:
    return parse(spec)


async def enforce(limiter: RateLimiter, spec: str, scope: str, key: str) -> None:
    """Count one hit on `scope`/`key`; raise RateLimited when the limit is already used up."""
    item = _item(spec)
    if await limiter.hit(item, "auth", scope, key):
        return
    stats = await limiter.get_window_stats(item, "auth", scope, key)
    raise RateLimited(
        "too many attempts; try again later", retry_after=math.ceil(stats.reset_time - time.time())
    )


def account_key(email: str) -> str:
    """Per-account limits key on a digest, so Redis holds no email addresses."""
    return hashlib.sha256(email.encode("utf-8")).hexdigest()[:32]
