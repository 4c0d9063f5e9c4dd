"""GET/PATCH /users/me on the real stack."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update

from commerce.auth.models import User
from commerce.context import AppContext
from tests.commerce.auth.helpers import bearer, register

ME = "/api/v1/users/me"


async def test_get_me_returns_the_profile(api: httpx.AsyncClient) -> None:
    signed_up = await register(api, display_name="Somchai", locale="th")
    response = await api.get(ME, headers=bearer(signed_up["access_token"]))
    assert response.status_code == 200
    body = response.json()
    assert body == signed_up["user"]
    assert (body["locale"], body["market"], body["role"]) == ("th", "TH", "buyer")


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer x.y.z"}, {"Authorization": "Token abc"}]
)
async def test_me_needs_a_valid_token(api: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for method in ("GET", "PATCH"):
        response = await api.request(method, ME, headers=headers, json={})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


async def test_patch_changes_only_what_is_sent(api: httpx.AsyncClient, ctx: AppContext) -> None:
    signed_up = await register(api, display_name="Mei")
    headers = bearer(signed_up["access_token"])
    response = await api.patch(ME, headers=headers, json={"locale": "zh_TW", "market": "TH"})
    assert response.status_code == 200, response.text
    assert response.json() == {**signed_up["user"], "locale": "zh_TW", "market": "TH"}

    renamed = await api.patch(ME, headers=headers, json={"display_name": "  美美 🐱  "})
    assert renamed.json()["display_name"] == "美美 🐱"
    unchanged = await api.patch(ME, headers=headers, json={})
    assert unchanged.status_code == 200 and unchanged.json() == renamed.json()

    async with ctx.sessions() as session:
        user = await session.scalar(select(User).where(User.id == signed_up["user"]["id"]))
    assert user is not None
    assert (user.display_name, user.locale, user.market) == ("美美 🐱", "zh_TW", "TH")
    assert (await api.get(ME, headers=headers)).json() == renamed.json()


@pytest.mark.parametrize(
    "body",
    [
        {"role": "admin"},
        {"email": "new@example.test"},
        {"display_name": None},
        {"display_name": ""},
        {"display_name": "   "},
        {"display_name": "x" * 51},
        {"display_name": "line\nbreak"},
        {"display_name": 7},
        {"locale": "de"},
        {"locale": None},
        {"market": "tw"},
        {"market": ["TW"]},
    ],
)
async def test_invalid_patches_are_422_and_change_nothing(
    api: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    signed_up = await register(api)
    headers = bearer(signed_up["access_token"])
    response = await api.patch(ME, headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid"
    assert (await api.get(ME, headers=headers)).json() == signed_up["user"]


@pytest.mark.parametrize("content", [b"{", b"[1]", b"\xff\xfe"])
async def test_malformed_patch_bodies_are_4xx(api: httpx.AsyncClient, content: bytes) -> None:
    token = (await register(api))["access_token"]
    response = await api.patch(
        ME, content=content, headers={**bearer(token), "Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert "code" in response.json()["error"]


@pytest.mark.parametrize("change", ["disable", "delete"])
async def test_token_of_a_disabled_or_deleted_user_is_refused(
    api: httpx.AsyncClient, ctx: AppContext, change: str
) -> None:
    signed_up = await register(api)
    headers = bearer(signed_up["access_token"])
    async with ctx.sessions() as session, session.begin():
        if change == "disable":
            await session.execute(update(User).values(is_active=False))
        else:
            await session.execute(delete(User))
    for method in ("GET", "PATCH"):
        response = await api.request(method, ME, headers=headers, json={"locale": "en"})
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "unauthorized"
