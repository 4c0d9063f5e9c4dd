"""Start-up helpers shared by the process entry points: fail fast with one clear line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

from redis import exceptions as redis_exc
from sqlalchemy.engine import make_url

from shared.errors import ConfigError
from shared.outage import redis_down
from shared.redis import make_redis

T = TypeVar("T")


def die(message: str, code: int = 2) -> NoReturn:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def run_or_die(fn: Callable[[], T]) -> T:
    """Run a start-up step; a ConfigError becomes one line on stderr and exit status 2."""
    try:
        return fn()
    except ConfigError as exc:
        die(str(exc))


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


async def check_redis(
    url: str | None, timeout_s: float = 5.0, *, unreachable_ok: bool = False
) -> str | None:
    """ConfigError unless Redis answers. `unreachable_ok`: a Redis that refuses connections or
    times out is not an error; its message is returned instead (None: it answered). A refused
    password, a malformed URL and the like still are: they will not heal by themselves."""
    if not url:
        return None
    client = make_redis(url)
    try:
        await asyncio.wait_for(client.ping(), timeout_s)
    except Exception as exc:
        message = f"cannot reach Redis at {url.split('@')[-1]}: {short(exc)}"
        down = isinstance(exc, TimeoutError) or (
            redis_down(exc) and not isinstance(exc, redis_exc.AuthenticationError))
        if unreachable_ok and down:
            return message
        raise ConfigError(message) from None
    finally:
        await client.aclose()
    return None


async def with_timeout(what: str, awaitable: Awaitable[T], timeout_s: float) -> T:
    try:
        return await asyncio.wait_for(awaitable, timeout_s)
    except TimeoutError:
        raise ConfigError(f"{what}: timed out after {timeout_s:.0f}s") from None
