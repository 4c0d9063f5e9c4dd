"""POST /auth/logout and the revocation marks both services honour."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest
from jose import jwt
from sqlalchemy import select

from commerce.auth.models import RefreshToken
from commerce.context import AppContext
from commerce.deps import principal_from_token
from commerce.outbox import OutboxEvent
from realtime.auth import authenticate
from shared.errors import Unauthorized
from shared.tokens import (
    denylist_key,
    family_revoked_key,
    is_revoked,
    user_revoked_before_key,
)
from tests.commerce.auth.helpers import PASSWORD, bearer, register

URL = "/api/v1/auth/logout"
ME = "/api/v1/users/me"


async def test_logout_refuses_the_token_and_ends_the_session(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    session_a = await register(api)
    email = session_a["user"]["email"]
    session_b = (await api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}
                                )).json()
    principal = ctx.tokens.verify_access(session_a["access_token"])

    response = await api.post(URL, headers=bearer(session_a["access_token"]))
    assert response.status_code == 204 and response.content == b""

    assert (await api.get(ME, headers=bearer(session_a["access_token"]))).status_code == 401
    again = await api.post(URL, headers=bearer(session_a["access_token"]))
    assert again.status_code == 401
    refresh = await api.post("/api/v1/auth/refresh",
                             json={"refresh_token": session_a["refresh_token"]})
    assert refresh.status_code == 401
    ttl = await ctx.redis.ttl(denylist_key(principal.jti))
    assert 0 < ttl <= principal.expires_at - int(time.time()) + 1

    # The other session (another login) is untouched.
    assert (await api.get(ME, headers=bearer(session_b["access_token"]))).status_code == 200

    async with ctx.sessions() as session:
        tokens = (await session.scalars(
            select(RefreshToken).where(RefreshToken.family_id == principal.family))).all()
        events = (await session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == "user.tokens_revoked"))).all()
    assert tokens and all(t.revoked_at is not None for t in tokens)
    assert [orjson.loads(e.payload)["data"] for e in events] == [
        {"user_id": principal.user_id, "jti": principal.jti, "family": principal.family}
    ]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic dXNlcjpwdw=="}]
)
async def test_logout_needs_a_valid_token(api: httpx.AsyncClient, headers: dict[str, str]
                                          ) -> None:
    response = await api.post(URL, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("mark", ["jti", "user", "family"])
async def test_both_services_refuse_every_kind_of_revocation(
    api: httpx.AsyncClient, ctx: AppContext, mark: str
) -> None:
    """commerce's dependency and the gateway's connect check share `is_revoked`."""
    token = (await register(api))["access_token"]
    principal = ctx.tokens.verify_access(token)
    assert principal.family is not None
    assert not await is_revoked(ctx.redis, principal)
    key = {
        "jti": denylist_key(principal.jti),
        "user": user_revoked_before_key(principal.user_id),
        "family": family_revoked_key(principal.family),
    }[mark]
    await ctx.redis.set(key, str(principal.issued_at) if mark == "user" else "1", ex=60)

    assert await is_revoked(ctx.redis, principal)
    with pytest.raises(Unauthorized, match="revoked"):
        await principal_from_token(ctx, token)
    with pytest.raises(Unauthorized, match="revoked"):
        await authenticate({"token": token}, verifier=ctx.tokens, redis=ctx.redis)
    assert (await api.get(ME, headers=bearer(token))).status_code == 401


async def test_revoked_before_spares_later_tokens(api: httpx.AsyncClient, ctx: AppContext
                                                  ) -> None:
    token = (await register(api))["access_token"]
    principal = ctx.tokens.verify_access(token)
    await ctx.redis.set(user_revoked_before_key(principal.user_id), principal.issued_at - 1)
    assert not await is_revoked(ctx.redis, principal)
    assert await authenticate({"token": token}, verifier=ctx.tokens, redis=ctx.redis) == principal


@pytest.mark.parametrize("fam", [123, "", ["a"], "f" * 65])
def test_malformed_family_claim_is_refused(
    ctx: AppContext, jwt_keys: tuple[str, str], fam: object
) -> None:
    """`fam` decides which revocation mark applies, so a token whose `fam` is not a sane
    string is refused outright rather than checked against a meaningless key."""
    now = int(time.time())
    claims = {"sub": "1", "jti": "j", "iat": now, "exp": now + 60, "typ": "access",
              "iss": ctx.settings.jwt_issuer, "aud": ctx.settings.jwt_audience, "fam": fam}
    with pytest.raises(Unauthorized):
        ctx.tokens.verify_access(jwt.encode(claims, jwt_keys[0], algorithm="ES256"))
