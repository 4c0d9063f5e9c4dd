"""`POST /api/v1/auth/social/{provider}` end to end: real DB and Redis, fake providers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pyotp
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select, update

from commerce.app import create_app
from commerce.auth.models import SocialAccount, User
from commerce.context import AppContext
from shared.settings import CommerceSettings
from tests.fakes.social.apple import FakeApple
from tests.fakes.social.facebook import FakeFacebook
from tests.fakes.social.google import FakeGoogle
from tests.fakes.social.instagram import FakeInstagram
from tests.fakes.social.line import FakeLine
from tests.fakes.social.oidc import FakeOidc

PASSWORD = "correct horse battery staple"


async def social(api: httpx.AsyncClient, provider: str, **body: str) -> httpx.Response:
    return await api.post(f"/api/v1/auth/social/{provider}", json=body)


async def me(api: httpx.AsyncClient, token: str) -> httpx.Response:
    return await api.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})


async def register(api: httpx.AsyncClient, email: str) -> dict[str, object]:
    response = await api.post(
        "/api/v1/auth/register",
        json={
            "email": email,
            "password": PASSWORD,
            "display_name": "Password User",
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def links(ctx: AppContext, user_id: int) -> list[tuple[str, str]]:
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(SocialAccount.provider, SocialAccount.subject)
            .where(SocialAccount.user_id == user_id)
            .order_by(SocialAccount.id)
        )
        return [(p, s) for p, s in rows]


async def test_google_login_creates_a_buyer_and_repeat_login_is_the_same_user(
    api: httpx.AsyncClient, ctx: AppContext, google: FakeGoogle
) -> None:
    first = await social(api, "google", id_token=google.id_token("g-42", email="Mei@Gmail.com"))
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"user", "access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == ctx.settings.access_token_ttl_s
    user = body["user"]
    assert (user["email"], user["role"], user["display_name"]) == (
        "mei@gmail.com",
        "buyer",
        "Mei Chen",
    )
    assert (await me(api, body["access_token"])).json()["id"] == user["id"]

    again = await social(api, "google", id_token=google.id_token("g-42", email="mei@gmail.com"))
    assert again.status_code == 200
    assert again.json()["user"]["id"] == user["id"]
    assert await links(ctx, user["id"]) == [("google", "g-42")]
    refreshed = await api.post(
        "/api/v1/auth/refresh", json={"refresh_token": again.json()["refresh_token"]}
    )
    assert refreshed.status_code == 200  # a normal session: refresh rotation works


async def test_verified_email_links_to_a_password_account_and_ends_unproven_claims(
    api: httpx.AsyncClient, ctx: AppContext, google: FakeGoogle
) -> None:
    """The password sign-up never proved the mailbox; Google just did (pre-hijack defence)."""
    registered = await register(api, "shopper@gmail.com")
    account = registered["user"]
    assert isinstance(account, dict)
    old_token = str(registered["access_token"])

    response = await social(api, "google", id_token=google.id_token("g-7"))
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == account["id"]
    assert await links(ctx, account["id"]) == [("google", "g-7")]
    assert (await me(api, response.json()["access_token"])).status_code == 200
    assert (await me(api, old_token)).status_code == 401
    login = await api.post(
        "/api/v1/auth/login", json={"email": "shopper@gmail.com", "password": PASSWORD}
    )
    assert login.status_code == 401
    old_refresh = await api.post(
        "/api/v1/auth/refresh", json={"refresh_token": registered["refresh_token"]}
    )
    assert old_refresh.status_code == 401
    async with ctx.sessions() as session:
        user = await session.get(User, account["id"])
        assert user is not None and user.email_verified and user.password_hash is None


async def test_verified_email_links_to_a_verified_account_keeping_its_password(
    api: httpx.AsyncClient, ctx: AppContext, apple: FakeApple
) -> None:
    registered = await register(api, "buyer@icloud.com")
    account = registered["user"]
    assert isinstance(account, dict)
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(User).where(User.id == account["id"]).values(email_verified=True)
        )
    token = apple.id_token("001.apple.1", email="buyer@icloud.com", raw_nonce="r-1")
    response = await social(api, "apple", id_token=token, nonce="r-1")
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == account["id"]
    assert (await me(api, str(registered["access_token"]))).status_code == 200
    login = await api.post(
        "/api/v1/auth/login", json={"email": "buyer@icloud.com", "password": PASSWORD}
    )
    assert login.status_code == 200


async def test_unverified_email_of_an_existing_account_is_409_and_links_nothing(
    api: httpx.AsyncClient, ctx: AppContext, google: FakeGoogle
) -> None:
    registered = await register(api, "victim@example.com")
    token = google.id_token("g-attacker", email="victim@example.com", email_verified=False)
    response = await social(api, "google", id_token=token)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"
    account = registered["user"]
    assert isinstance(account, dict)
    assert await links(ctx, account["id"]) == []
    async with ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(SocialAccount)) == 0


async def test_unverified_email_alone_creates_an_account_without_claiming_it(
    api: httpx.AsyncClient, google: FakeGoogle
) -> None:
    token = google.id_token("g-9", email="maybe@example.com", email_verified=False)
    response = await social(api, "google", id_token=token)
    assert response.status_code == 200, response.text
    email = response.json()["user"]["email"]
    assert email.startswith("google-") and email.endswith("@users.invalid")
    # The address stays free for whoever can prove it.
    await register(api, "maybe@example.com")


async def test_two_providers_with_one_verified_email_share_an_account(
    api: httpx.AsyncClient, ctx: AppContext, google: FakeGoogle, line: FakeLine
) -> None:
    by_google = await social(api, "google", id_token=google.id_token("g-1", email="a@b.co"))
    by_line = await social(api, "line", id_token=line.id_token("U-1", email="a@b.co"))
    assert by_google.status_code == by_line.status_code == 200
    user_id = by_google.json()["user"]["id"]
    assert by_line.json()["user"]["id"] == user_id
    assert await links(ctx, user_id) == [("google", "g-1"), ("line", "U-1")]


async def test_instagram_creates_by_subject_and_logs_in_again(
    api: httpx.AsyncClient, ctx: AppContext, instagram: FakeInstagram
) -> None:
    first = await social(api, "instagram", code=instagram.authorization_code(178414, "shop.tw"))
    assert first.status_code == 200, first.text
    user = first.json()["user"]
    assert user["display_name"] == "shop.tw"
    assert user["email"].endswith("@users.invalid")
    again = await social(api, "instagram", code=instagram.authorization_code(178414, "shop.tw"))
    assert again.json()["user"]["id"] == user["id"]
    assert await links(ctx, user["id"]) == [("instagram", "178414")]


async def test_facebook_access_token_login(api: httpx.AsyncClient, facebook: FakeFacebook) -> None:
    facebook.add_user("1015", "Wei Lin", "wei@example.com")
    response = await social(api, "facebook", access_token=facebook.access_token("1015"))
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == "wei@example.com"


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("google", {"id_token": "not.a.jwt"}),
        ("apple", {"id_token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}),
        ("line", {"id_token": "garbage"}),
        ("facebook", {"access_token": "EAAGnope"}),
        ("instagram", {"code": "AQBnope"}),
    ],
)
async def test_bad_tokens_are_401_invalid_social_token(
    api: httpx.AsyncClient, provider: str, body: dict[str, str]
) -> None:
    response = await social(api, provider, **body)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_social_token"


async def test_wrong_nonce_through_the_api(
    api: httpx.AsyncClient, apple: FakeApple, line: FakeLine
) -> None:
    apple_resp = await social(api, "apple", id_token=apple.id_token(raw_nonce="a"), nonce="b")
    line_resp = await social(api, "line", id_token=line.id_token(nonce="a"), nonce="b")
    for response in (apple_resp, line_resp):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_social_token"


async def test_provider_down_is_503_provider_unavailable(
    api: httpx.AsyncClient, google: FakeGoogle
) -> None:
    google.fail_status = 500
    response = await social(api, "google", id_token=google.id_token())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "provider_unavailable"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/auth/social/myspace", {"id_token": "x"}),
        ("/api/v1/auth/social/google", {}),
        ("/api/v1/auth/social/google", {"nonce": "n"}),
        ("/api/v1/auth/social/google", {"id_token": "x", "email": "me@example.com"}),
        ("/api/v1/auth/social/google", {"id_token": 123}),
        ("/api/v1/auth/social/google", {"id_token": "x" * 9000}),
    ],
)
async def test_malformed_requests_are_422(
    api: httpx.AsyncClient, path: str, body: dict[str, object]
) -> None:
    response = await api.post(path, json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"


async def test_disabled_account_cannot_log_in_socially(
    api: httpx.AsyncClient, ctx: AppContext, google: FakeGoogle
) -> None:
    first = await social(api, "google", id_token=google.id_token("g-off"))
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(User).where(User.id == first.json()["user"]["id"]).values(is_active=False)
        )
    response = await social(api, "google", id_token=google.id_token("g-off"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "account_disabled"


@pytest.fixture
async def bare_api(
    unconfigured_settings: CommerceSettings, ctx: AppContext
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with no social provider configured (the project defaults)."""
    context = AppContext.build(unconfigured_settings)
    app = create_app(unconfigured_settings, ctx=context)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            yield c
    finally:
        await context.close()


@pytest.mark.parametrize("provider", ["kapook", "google", "instagram"])
async def test_unconfigured_provider_is_503_provider_not_configured(
    bare_api: httpx.AsyncClient, provider: str
) -> None:
    body = {"code": "c"} if provider == "instagram" else {"id_token": "a.b.c"}
    response = await social(bare_api, provider, **body)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "provider_not_configured"
    assert "not configured" in error["message"] and error["details"] == {"provider": provider}


@pytest.mark.parametrize("verified", [True, False])
async def test_concurrent_first_logins_of_one_identity_make_one_account(
    api: httpx.AsyncClient, ctx: AppContext, google: FakeGoogle, verified: bool
) -> None:
    token = google.id_token("g-race", email="race@gmail.com", email_verified=verified)
    responses = await asyncio.gather(*(social(api, "google", id_token=token) for _ in range(4)))
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    assert len({r.json()["user"]["id"] for r in responses}) == 1
    async with ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 1
        assert await session.scalar(select(func.count()).select_from(SocialAccount)) == 1


async def test_kapook_login_and_an_oversized_subject(
    api: httpx.AsyncClient, kapook: FakeOidc
) -> None:
    response = await social(api, "kapook", id_token=kapook.id_token("kp-1"))
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == "somchai@kapook.test"
    huge = await social(api, "kapook", id_token=kapook.id_token("k" * 300))
    assert huge.status_code == 401
    assert huge.json()["error"]["code"] == "invalid_social_token"


async def test_social_login_of_an_account_with_2fa_asks_for_the_second_factor(
    api: httpx.AsyncClient, ctx: AppContext, apple: FakeApple
) -> None:
    registered = await register(api, "twofactor@icloud.com")
    account = registered["user"]
    assert isinstance(account, dict)
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(User).where(User.id == account["id"]).values(email_verified=True)
        )
    auth = {"Authorization": f"Bearer {registered['access_token']}"}
    secret = (await api.post("/api/v1/auth/2fa/enroll", headers=auth)).json()["secret"]
    confirmed = await api.post(
        "/api/v1/auth/2fa/confirm", json={"code": pyotp.TOTP(secret).now()}, headers=auth
    )
    assert confirmed.status_code == 200
    token = apple.id_token("001.apple.2fa", email="twofactor@icloud.com", raw_nonce="r-2")
    first = await social(api, "apple", id_token=token, nonce="r-2")
    assert first.status_code == 200, first.text
    assert first.json()["two_factor_required"] is True and "access_token" not in first.json()
    second = await api.post("/api/v1/auth/2fa/verify", json={
        "challenge_token": first.json()["challenge_token"],
        "code": pyotp.TOTP(secret).at(time.time() + 30),
    })
    assert second.status_code == 200, second.text
    assert second.json()["user"]["id"] == account["id"]
