"""POST /auth/register on the real MariaDB and Redis."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from commerce.auth.models import RefreshToken, User
from commerce.context import AppContext
from tests.commerce.auth.helpers import PASSWORD, bearer, new_email, register

URL = "/api/v1/auth/register"


async def test_register_returns_user_and_working_tokens(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    body = await register(
        api, email="  Mei.Lin@Example.TEST ", display_name="  林美  ", role="seller",
        locale="zh_TW", market="TW",
    )
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == ctx.settings.access_token_ttl_s
    user = body["user"]
    assert user["email"] == "mei.lin@example.test"
    assert user["display_name"] == "林美"
    assert (user["role"], user["locale"], user["market"]) == ("seller", "zh_TW", "TW")
    assert set(user) == {"id", "email", "display_name", "role", "locale", "market", "phone",
                         "notification_prefs", "created_at"}

    principal = ctx.tokens.verify_access(body["access_token"])
    assert principal.user_id == user["id"] and principal.role == "seller"
    assert principal.family is not None
    me = await api.get("/api/v1/users/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json() == user

    async with ctx.sessions() as session:
        row = await session.scalar(select(User).where(User.id == user["id"]))
        tokens = (await session.scalars(select(RefreshToken))).all()
    assert row is not None and row.password_hash is not None
    assert PASSWORD not in row.password_hash and row.password_hash.startswith("bcrypt-sha256$")
    assert len(tokens) == 1 and tokens[0].family_id == principal.family
    assert tokens[0].token_hash != body["refresh_token"]  # stored hashed only


async def test_defaults_follow_locale_or_market(api: httpx.AsyncClient) -> None:
    assert (await register(api))["user"]["role"] == "buyer"
    plain = (await register(api))["user"]
    assert (plain["locale"], plain["market"]) == ("en", "TW")
    thai = (await register(api, locale="th"))["user"]
    assert (thai["locale"], thai["market"]) == ("th", "TH")
    th_market = (await register(api, market="TH"))["user"]
    assert (th_market["locale"], th_market["market"]) == ("th", "TH")


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1!", "too_short"),
        ("123456789", "too_short"),
        ("1234567890", "common"),
        ("QwertyUIOP", "common"),  # case does not help
        ("basketball", "common"),
        ("mei.lin@example.test", "contains_email"),
        ("xx-MEI.LIN-2024", "contains_email"),  # contains the local part
        ("my mei.lin@example.test pw", "contains_email"),
    ],
)
async def test_weak_passwords_are_refused(
    api: httpx.AsyncClient, ctx: AppContext, password: str, reason: str
) -> None:
    body = {"email": "mei.lin@example.test", "password": password, "display_name": "Mei"}
    response = await api.post(URL, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "weak_password"
    assert error["details"]["reason"] == reason
    async with ctx.sessions() as session:
        assert await session.scalar(select(User.id)) is None


async def test_long_passphrases_work_beyond_bcrypts_72_bytes(api: httpx.AsyncClient) -> None:
    """Two passwords equal in their first 72 bytes must not be interchangeable."""
    email = new_email()
    stem = "ก" * 30  # 90 UTF-8 bytes: past bcrypt's limit on its own
    await register(api, email=email, password=stem + "-first")
    wrong = await api.post("/api/v1/auth/login", json={"email": email, "password": stem + "-other"})
    assert wrong.status_code == 401
    right = await api.post("/api/v1/auth/login", json={"email": email, "password": stem + "-first"})
    assert right.status_code == 200


async def test_duplicate_email_is_409_case_insensitively(api: httpx.AsyncClient) -> None:
    await register(api, email="dup@example.test")
    response = await api.post(
        URL, json={"email": "DUP@example.TEST", "password": PASSWORD, "display_name": "Again"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"


async def test_concurrent_double_register_creates_one_account(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    body = {"email": "race@example.test", "password": PASSWORD, "display_name": "Racer"}
    responses = await asyncio.gather(*(api.post(URL, json=body) for _ in range(8)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 7}, [r.text for r in responses]
    refused = [r.json()["error"]["code"] for r in responses if r.status_code == 409]
    assert set(refused) == {"email_taken"}
    async with ctx.sessions() as session:
        users = (await session.scalars(select(User))).all()
    assert len(users) == 1


@pytest.mark.parametrize(
    "override",
    [
        {"role": "admin"},
        {"role": "root"},
        {"locale": "fr"},
        {"market": "US"},
        {"email": "not-an-email"},
        {"email": "a@b"},
        {"email": "two@@example.test"},
        {"email": "sp ace@example.test"},
        {"email": "x@-bad-.test"},
        {"email": "x" * 250 + "@example.test"},
        {"display_name": "   "},
        {"display_name": "x" * 51},
        {"display_name": "bell\x07"},
        {"password": "p" * 1025},
        {"email": 42},
        {"password": 1234567890},
        {"display_name": ["Mei"]},
        {"role": None},
        {"is_admin": True},
    ],
)
async def test_invalid_bodies_are_422_envelopes(
    api: httpx.AsyncClient, override: dict[str, Any]
) -> None:
    body = {"email": new_email(), "password": PASSWORD, "display_name": "Mei", **override}
    response = await api.post(URL, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid"
    assert PASSWORD not in response.text  # input is never echoed back


async def test_display_name_limit_is_counted_after_trimming(api: httpx.AsyncClient) -> None:
    body = await register(api, display_name="   " + "名" * 50 + "   ")
    assert body["user"]["display_name"] == "名" * 50


async def test_idn_email_is_accepted(api: httpx.AsyncClient) -> None:
    body = await register(api, email="somchai@ตัวอย่าง.ไทย")
    assert body["user"]["email"] == "somchai@ตัวอย่าง.ไทย"


@pytest.mark.parametrize(
    ("content", "status"),
    [(b"{not json", 400), (b"[]", 422), (b'"just a string"', 422), (b"", 422), (b"null", 422)],
)
async def test_malformed_bodies_never_500(
    api: httpx.AsyncClient, content: bytes, status: int
) -> None:
    response = await api.post(URL, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert "code" in response.json()["error"]
