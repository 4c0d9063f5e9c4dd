"""Which failures mean "a dependency is down" rather than "a bug".

A request that fails because Redis, the database or the broker is unreachable is not the
client's fault and not ours: it gets 503 with `Retry-After` (a socket ack `unavailable`), never
500 `internal_error`, so clients and load balancers retry instead of reporting a defect. This
module knows Redis's exceptions; `commerce/outage.py` adds the database's and the broker's.
"""

from __future__ import annotations

from redis import exceptions as redis_exc

# `BusyLoadingError` (Redis still loading its AOF after a restart) is a `ConnectionError`.
REDIS_DOWN: tuple[type[BaseException], ...] = (redis_exc.ConnectionError, redis_exc.TimeoutError)

RETRY_AFTER_S = 2


def causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it was raised from or during (drivers wrap one another)."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out and len(out) < 8:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def redis_down(exc: BaseException) -> bool:
    return any(isinstance(e, REDIS_DOWN) for e in causes(exc))
