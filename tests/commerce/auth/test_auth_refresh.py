"""POST /auth/refresh: rotation, reuse detection (RFC 9700), races, expiry."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, update

from commerce.auth.models import RefreshToken, User
from commerce.context import AppContext
from commerce.db import utcnow
from commerce.outbox import OutboxEvent
from shared.tokens import family_revoked_key
from tests.commerce.auth.helpers import bearer, register

URL = "/api/v1/auth/refresh"
ME = "/api/v1/users/me"


async def _refresh(api: httpx.AsyncClient, token: str) -> httpx.Response:
    return await api.post(URL, json={"refresh_token": token})


async def _revocation_events(ctx: AppContext) -> list[dict[str, Any]]:
    async with ctx.sessions() as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == "user.tokens_revoked")
        )
        return [orjson.loads(row.payload)["data"] for row in rows]


async def test_refresh_rotates_within_the_family(api: httpx.AsyncClient, ctx: AppContext) -> None:
    first = await register(api)
    response = await _refresh(api, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["user"] == first["user"] and second["token_type"] == "bearer"
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    fam_1 = ctx.tokens.verify_access(first["access_token"]).family
    assert ctx.tokens.verify_access(second["access_token"]).family == fam_1
    assert (await api.get(ME, headers=bearer(second["access_token"]))).status_code == 200

    third = await _refresh(api, second["refresh_token"])  # the new one rotates again
    assert third.status_code == 200
    async with ctx.sessions() as session:
        rows = (await session.scalars(select(RefreshToken).order_by(RefreshToken.id))).all()
    assert [r.used_at is not None for r in rows] == [True, True, False]
    assert {r.family_id for r in rows} == {fam_1}


async def test_reusing_a_spent_token_revokes_the_whole_family(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    first = await register(api)
    other_session = (await api.post("/api/v1/auth/login", json={
        "email": first["user"]["email"], "password": "correct horse battery staple"})).json()
    second = (await _refresh(api, first["refresh_token"])).json()
    family = ctx.tokens.verify_access(second["access_token"]).family
    assert family is not None

    replay = await _refresh(api, first["refresh_token"])  # e.g. an attacker's stolen copy
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "invalid_refresh_token"

    # The legitimate holder's newer token and every access token of the family are dead too.
    legit = await _refresh(api, second["refresh_token"])
    assert legit.status_code == 401 and legit.json()["error"]["code"] == "invalid_refresh_token"
    for access in (first["access_token"], second["access_token"]):
        refused = await api.get(ME, headers=bearer(access))
        assert refused.status_code == 401
    ttl = await ctx.redis.ttl(family_revoked_key(family))
    assert 0 < ttl <= ctx.settings.access_token_ttl_s

    # Another login of the same user is a different family and lives on.
    assert (await api.get(ME, headers=bearer(other_session["access_token"]))).status_code == 200
    assert (await _refresh(api, other_session["refresh_token"])).status_code == 200

    events = await _revocation_events(ctx)
    assert events == [{"user_id": first["user"]["id"], "jti": None, "family": family}]
    # Replaying again is refused without another event (the family is already dead).
    assert (await _refresh(api, first["refresh_token"])).status_code == 401
    assert len(await _revocation_events(ctx)) == 1


async def test_concurrent_refreshes_with_one_token_have_one_winner(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    first = await register(api)
    responses = await asyncio.gather(*(_refresh(api, first["refresh_token"]) for _ in range(6)))
    assert Counter(r.status_code for r in responses) == {200: 1, 401: 5}, [
        r.text for r in responses
    ]
    async with ctx.sessions() as session:
        rows = (await session.scalars(select(RefreshToken))).all()
    assert len(rows) == 2  # the original (spent) and the winner's: no second rotation
    # A loser presented a spent token, which revokes the family (no grace window).
    assert all(r.revoked_at is not None for r in rows)


async def test_expired_refresh_token_is_refused(api: httpx.AsyncClient, ctx: AppContext) -> None:
    first = await register(api)
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    response = await _refresh(api, first["refresh_token"])
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_refresh_token"
    # Expiry is not reuse: the access token of the session stays valid until its own expiry.
    assert (await api.get(ME, headers=bearer(first["access_token"]))).status_code == 200


async def test_refresh_of_a_disabled_account_is_refused(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    first = await register(api)
    async with ctx.sessions() as session, session.begin():
        await session.execute(update(User).values(is_active=False))
    response = await _refresh(api, first["refresh_token"])
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_refresh_token"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"refresh_token": "made-up-token"}, 401),
        ({"refresh_token": "x" * 257}, 422),
        ({"refresh_token": ""}, 422),
        ({"refresh_token": 12345}, 422),
        ({"refresh_token": None}, 422),
        ({}, 422),
        ({"refresh_token": "t", "extra": 1}, 422),
    ],
)
async def test_bad_refresh_requests(
    api: httpx.AsyncClient, body: dict[str, object], status: int
) -> None:
    response = await api.post(URL, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] in {"invalid", "invalid_refresh_token"}


async def test_refresh_racing_replays_and_logout_never_fails(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    """Rotation, replays and logout of one session at once: each request gets a clean answer
    (deadlock victims are retried) and the session always ends up dead."""
    for _ in range(5):
        first = await register(api)
        calls = [_refresh(api, first["refresh_token"]) for _ in range(4)]
        calls.append(api.post("/api/v1/auth/logout", headers=bearer(first["access_token"])))
        responses = await asyncio.gather(*calls)
        statuses = Counter(r.status_code for r in responses)
        assert statuses[204] == 1 and statuses[200] <= 1, [r.text for r in responses]
        assert statuses[200] + statuses[401] == 4
        family = ctx.tokens.verify_access(first["access_token"]).family
        async with ctx.sessions() as session:
            rows = (await session.scalars(
                select(RefreshToken).where(RefreshToken.family_id == family))).all()
        assert rows and all(r.revoked_at is not None for r in rows)
