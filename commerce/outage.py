"""Dependency outages become 503 `unavailable` with `Retry-After`, never 500.

`dependency_down` names the dependency an exception says is unreachable (database, Redis,
broker) or returns None for anything else, which stays a 500: a bug must not hide as an outage.
MySQL/MariaDB errors count only when they are about the connection (the server is gone, the
connection was lost or refused, the pool timed out), not deadlocks or constraint failures.
"""

from __future__ import annotations

from typing import Any

from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy import exc as sa_exc

from shared.errors import Unavailable
from shared.outage import REDIS_DOWN, RETRY_AFTER_S, causes

# CR_CONNECTION_ERROR, CR_CONN_HOST_ERROR, CR_SERVER_GONE_ERROR, CR_SERVER_LOST,
# CR_SERVER_LOST_EXTENDED, ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED (MariaDB),
# ER_CLIENT_INTERACTION_TIMEOUT.
MYSQL_CONNECTION_ERRORS = frozenset({2002, 2003, 2006, 2013, 2055, 1053, 1927, 4031})
# ER_LOCK_DEADLOCK and ER_LOCK_WAIT_TIMEOUT: the server rolled the transaction back (deadlock) or
# gave up waiting for a row lock; the same work, run again, normally succeeds.
MYSQL_LOCK_CONFLICTS = frozenset({1213, 1205})


def dependency_down(exc: BaseException) -> str | None:
    for e in causes(exc):
        if isinstance(e, REDIS_DOWN):
            return "redis"
        if isinstance(e, sa_exc.TimeoutError):  # the connection pool waited in vain
            return "database"
        if isinstance(e, sa_exc.DBAPIError) and (
            e.connection_invalidated or _mysql_code(e.orig) in MYSQL_CONNECTION_ERRORS
        ):
            return "database"
        if isinstance(e, BrokerError):
            return "broker"
    return None


def lock_conflict(exc: BaseException) -> bool:
    """True when `exc` is a deadlock or lock-wait timeout: transient, worth one more attempt of
    the whole transaction (never a reason to answer 500)."""
    return any(
        isinstance(e, sa_exc.DBAPIError) and _mysql_code(e.orig) in MYSQL_LOCK_CONFLICTS
        for e in causes(exc)
    )


def _mysql_code(orig: BaseException | None) -> int | None:
    args = getattr(orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


class DependencyDown(Unavailable):
    """What an outage is answered with: 503 and when to try again."""

    def __init__(self, dependency: str) -> None:
        super().__init__(f"{dependency} is unavailable; try again shortly",
                         details={"dependency": dependency})
        self.retry_after = RETRY_AFTER_S

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def as_unavailable(exc: BaseException) -> DependencyDown | None:
    dependency = dependency_down(exc)
    return DependencyDown(dependency) if dependency else None


def log_failure(logger: Any, event: str, exc: BaseException, **fields: Any) -> None:
    """Log a background loop's failure: an outage as one line naming the dependency (a loop
    retrying every second must not render a traceback each time: in the console format that
    took seconds of the event loop per line, stalling every request), anything else with its
    traceback (a bug)."""
    dependency = dependency_down(exc)
    if dependency is not None:
        logger.warning(event, dependency=dependency, error=type(exc).__name__, **fields)
    else:
        logger.error(event, exc_info=exc, **fields)
