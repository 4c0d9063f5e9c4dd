"""FastAPI dependencies as `Annotated` aliases: the context, a DB session, the caller.

Object-level loaders (e.g. `CurrentOrder`) live in each domain's `dependencies.py` and do the
404 and ownership check there, so authorization has one home per resource.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.context import AppContext
from shared.errors import Forbidden, Unauthorized
from shared.tokens import Principal, ensure_not_revoked

_bearer = HTTPBearer(auto_error=False, description="Access token from /auth/login")


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


async def principal_from_token(ctx: AppContext, token: str) -> Principal:
    """Verify signature and claims, then the revocation marks in Redis."""
    principal = ctx.tokens.verify_access(token)
    await ensure_not_revoked(ctx.redis, principal)
    return principal


async def get_optional_principal(
    ctx: CtxDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    if credentials is None:
        return None
    if credentials.scheme.lower() != "bearer":
        raise Unauthorized("use a Bearer token")
    return await principal_from_token(ctx, credentials.credentials)


async def get_principal(
    principal: Annotated[Principal | None, Depends(get_optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized("authentication required")
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
SellerPrincipal = Annotated[Principal, require_role("seller", "admin")]
AdminPrincipal = Annotated[Principal, require_role("admin")]
