"""FastAPI dependencies as `Annotated` aliases: the context, a DB session, the caller.

Object-level loaders (e.g. `CurrentOrder`) live in each domain's `dependencies.py` and do the
404 and ownership check there, so authorization has one home per resource.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from commerce import throttle
from commerce.auth import revocations
from commerce.context import AppContext
from commerce.replicas import ReadSessions
from shared.errors import Forbidden, Unauthorized
from shared.tokens import Principal, ensure_not_revoked


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None without one, with an
    empty token or another scheme (as `HTTPBearer(auto_error=False)` decides: an optional
    route then serves the anonymous caller, a required one answers 401). The one rule for
    FastAPI routes (`_bearer`) and hot routes (`commerce.hot_routes`)."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if not token or scheme.lower() != "bearer":
        return None
    return token


def not_authenticated() -> Unauthorized:
    """The 401 of a route that requires a caller when the request names none."""
    return Unauthorized("authentication required")


class _BearerHeader(HTTPBearer):
    """`HTTPBearer` for the OpenAPI security scheme, parsing the header with `bearer_token`."""

    async def __call__(self, request: HTTPConnection) -> str | None:  # type: ignore[override]
        return bearer_token(request.headers.get("Authorization"))


T = TypeVar("T")

_bearer = _BearerHeader(auto_error=False, description="Access token from /auth/login")


async def get_ctx(request: Request) -> AppContext:
    # async: a plain `def` dependency would be run in the thread pool on every request.
    ctx: AppContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[AppContext, Depends(get_ctx)]


async def get_session(ctx: CtxDep) -> AsyncIterator[AsyncSession]:
    """A session for reads; services that write open their own transaction."""
    async with ctx.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def caller_id(ctx: AppContext, authorization: str | None) -> int | None:
    """Who is calling, if a valid access token says so; None for anyone else. Only for
    choosing where a read goes (a caller who wrote lately reads from the primary), never for
    authorization: revocation is not checked, and a bad token is simply anonymous here."""
    token = bearer_token(authorization)
    if token is None:
        return None
    try:
        return ctx.tokens.verify_access(token).user_id
    except Unauthorized:
        return None


@dataclass(frozen=True)
class Reader:
    """Lag-tolerant reads for one caller, on routes that read and never write
    (`ReadSessions.read`: a healthy replica's session unless the caller wrote lately; run again
    on the primary if the replica fails under it, or misses a row by id)."""

    reads: ReadSessions
    user_id: int | None

    async def read(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        return await self.reads.read(fn, user_id=self.user_id)


async def get_reader(ctx: CtxDep, request: Request) -> Reader:
    return Reader(ctx.reads, caller_id(ctx, request.headers.get("Authorization")))


ReaderDep = Annotated[Reader, Depends(get_reader)]


async def principal_from_token(ctx: AppContext, token: str) -> Principal:
    """Verify signature and claims, then the revocation marks in Redis."""
    principal = ctx.tokens.verify_access(token)
    await ensure_not_revoked(
        ctx.redis, principal, fallback=functools.partial(revocations.is_revoked_in_db, ctx)
    )
    return principal


async def get_optional_principal(
    ctx: CtxDep, token: Annotated[str | None, Depends(_bearer)]
) -> Principal | None:
    return None if token is None else await principal_from_token(ctx, token)


async def get_principal(
    principal: Annotated[Principal | None, Depends(get_optional_principal)],
) -> Principal:
    if principal is None:
        raise not_authenticated()
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(get_optional_principal)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_role(*roles: str) -> object:
    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"requires role {' or '.join(roles)}")
        return principal

    return Depends(check)


def client_ip(request: Request) -> str:
    """The caller's address for per-address limits. uvicorn's proxy-headers middleware has
    already replaced the socket peer with the X-Forwarded-For client when the peer is one of
    `trusted_proxies` (nginx), so a client cannot pick its own bucket by sending the header."""
    return request.client.host if request.client else "unknown"


ClientIP = Annotated[str, Depends(client_ip)]


def rate_limited(action: throttle.Action) -> object:
    """The caller, once `action` is counted against their per-user and per-address limits
    (429 `rate_limited` with Retry-After when either is used up)."""

    async def check(ctx: CtxDep, principal: CurrentPrincipal, ip: ClientIP) -> Principal:
        await throttle.enforce_action(ctx, action, user_id=principal.user_id, ip=ip)
        return principal

    return Depends(check)


PayingPrincipal = Annotated[Principal, rate_limited("payments")]
CartWriter = Annotated[Principal, rate_limited("cart")]
SellerPrincipal = Annotated[Principal, require_role("seller", "admin")]
AdminPrincipal = Annotated[Principal, require_role("admin")]
