"""POST /auth/login: credentials, the single error for every failure, and rate limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select, update

from commerce.app import create_app
from commerce.auth.models import User
from commerce.context import AppContext
from shared.settings import CommerceSettings
from tests.commerce.auth.helpers import PASSWORD, bearer, new_email, register

URL = "/api/v1/auth/login"
ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_login_opens_a_new_session(api: httpx.AsyncClient, ctx: AppContext) -> None:
    email = new_email()
    signed_up = await register(api, email=email)
    response = await api.post(URL, json={"email": f" {email.upper()} ", "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"] == signed_up["user"] and body["token_type"] == "bearer"
    first = ctx.tokens.verify_access(signed_up["access_token"])
    second = ctx.tokens.verify_access(body["access_token"])
    assert second.family and second.family != first.family  # one family per login
    me = await api.get("/api/v1/users/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200


async def test_every_failure_looks_the_same(api: httpx.AsyncClient, ctx: AppContext) -> None:
    """Wrong password, unknown email, social-only and disabled accounts: one indistinguishable
    answer, so login cannot be used to find out which emails have accounts."""
    known = (await register(api))["user"]["email"]
    disabled = (await register(api))["user"]
    social_only = new_email()
    async with ctx.sessions() as session, session.begin():
        session.add(User(email=social_only, display_name="Social", password_hash=None))
        await session.execute(update(User).where(User.id == disabled["id"]).values(is_active=False))
    attempts = [
        {"email": known, "password": PASSWORD + "x"},
        {"email": "nobody@example.test", "password": PASSWORD},
        {"email": social_only, "password": PASSWORD},
        {"email": disabled["email"], "password": PASSWORD},
        {"email": "not even an email", "password": PASSWORD},
    ]
    bodies = []
    for attempt in attempts:
        response = await api.post(URL, json=attempt)
        assert response.status_code == 401, response.text
        bodies.append(response.json())
    assert all(b == bodies[0] for b in bodies)
    assert bodies[0]["error"]["code"] == "invalid_credentials"


@pytest.mark.parametrize(
    "body",
    [{}, {"email": "a@example.test"}, {"email": 1, "password": "x"},
     {"email": "a@example.test", "password": None}, {"email": "", "password": "x"},
     {"email": "a@example.test", "password": "x" * 1025},
     {"email": "a@example.test", "password": "x", "remember": True}],
)
async def test_bad_login_bodies_are_422(api: httpx.AsyncClient, body: dict[str, object]) -> None:
    response = await api.post(URL, json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"


@pytest.fixture
def limited_client(
    commerce_settings: CommerceSettings, ctx: AppContext
) -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    """A client of an app with other settings, e.g. tiny limits (`ctx` cleaned DB and Redis)."""

    @asynccontextmanager
    async def open_client(
        client_ip: str = "203.0.113.7", **overrides: object
    ) -> AsyncIterator[httpx.AsyncClient]:
        settings = commerce_settings.updated(outbox_relay_enabled=False, **overrides)
        context = AppContext.build(settings)
        app = create_app(settings, ctx=context)
        transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
        try:
            async with LifespanManager(app), httpx.AsyncClient(
                transport=transport, base_url="http://test"
            ) as client:
                yield client
        finally:
            await context.close()

    return open_client


def _assert_429(response: httpx.Response, window_s: int = 60) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= window_s


async def test_failed_logins_are_limited_per_account_and_address_pair(
    limited_client: ClientFactory,
) -> None:
    async with limited_client(rate_limits={"login_failures_per_pair": "3/minute"}) as client:
        email = (await register(client))["user"]["email"]
        for _ in range(3):
            wrong = await client.post(URL, json={"email": email, "password": "nope-nope-nope"})
            assert wrong.status_code == 401
        # This address has used up its guesses on this account, even with the right password.
        _assert_429(await client.post(URL, json={"email": email, "password": PASSWORD}))
        other = (await register(client))["user"]["email"]  # other accounts are unaffected
        assert (await client.post(URL, json={"email": other, "password": PASSWORD})).is_success
    # The owner, at another address, is not locked out by the guesser.
    async with limited_client(
        client_ip="198.51.100.20", rate_limits={"login_failures_per_pair": "3/minute"}
    ) as owner:
        assert (await owner.post(URL, json={"email": email, "password": PASSWORD})).is_success


async def test_a_success_clears_the_pairs_failures(limited_client: ClientFactory) -> None:
    async with limited_client(rate_limits={"login_failures_per_pair": "3/minute"}) as client:
        email = (await register(client))["user"]["email"]
        for _ in range(2):
            wrong = await client.post(URL, json={"email": email, "password": "x" * 12})
            assert wrong.status_code == 401
        assert (await client.post(URL, json={"email": email, "password": PASSWORD})).is_success
        for _ in range(2):  # a typo after a success does not inherit the earlier ones
            wrong = await client.post(URL, json={"email": email, "password": "x" * 12})
            assert wrong.status_code == 401
        assert (await client.post(URL, json={"email": email, "password": PASSWORD})).is_success


async def test_many_failures_from_everywhere_slow_the_account_down_but_never_lock_it(
    limited_client: ClientFactory,
) -> None:
    slow = {"rate_limits": {"login_slow_path_after": "2/minute", "login_slow_path_delay_s": 0.6}}
    async with limited_client(client_ip="203.0.113.1", **slow) as first:
        email = (await register(first))["user"]["email"]
        wrong = await first.post(URL, json={"email": email, "password": "y" * 12})
        assert wrong.status_code == 401
    async with limited_client(client_ip="203.0.113.2", **slow) as second:
        wrong = await second.post(URL, json={"email": email, "password": "y" * 12})
        assert wrong.status_code == 401
    async with limited_client(client_ip="198.51.100.30", **slow) as owner:
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await owner.post(URL, json={"email": email, "password": PASSWORD})
        assert response.is_success  # the slower path, not a refusal
        assert loop.time() - started >= 0.6


async def test_login_is_limited_per_address(limited_client: ClientFactory) -> None:
    async with limited_client(rate_limits={"login_per_ip": "2/minute"}) as client:
        for i in range(2):
            failed = await client.post(URL, json={"email": f"x{i}@example.test", "password": "p"})
            assert failed.status_code == 401
        _assert_429(await client.post(URL, json={"email": "y@example.test", "password": "p"}))
    # The bucket is the address: another client address still gets through.
    async with limited_client(client_ip="198.51.100.9",
                              rate_limits={"login_per_ip": "2/minute"}) as c:
        response = await c.post(URL, json={"email": "y@example.test", "password": "p"})
        assert response.status_code == 401


async def test_register_is_limited_per_address(limited_client: ClientFactory) -> None:
    async with limited_client(rate_limits={"register_per_ip": "2/hour"}) as client:
        await register(client)
        await register(client)
        body = {"email": new_email(), "password": PASSWORD, "display_name": "Third"}
        _assert_429(await client.post("/api/v1/auth/register", json=body), window_s=3600)


async def test_login_upgrades_the_hash_when_the_cost_was_raised(
    api: httpx.AsyncClient, ctx: AppContext, limited_client: ClientFactory
) -> None:
    email = (await register(api))["user"]["email"]  # hashed at the test cost, 4
    async with limited_client(bcrypt_rounds=5) as stricter:
        response = await stricter.post(URL, json={"email": email, "password": PASSWORD})
        assert response.status_code == 200
    async with ctx.sessions() as session:
        stored = await session.scalar(select(User.password_hash).where(User.email == email))
    assert stored is not None and "$2b$05$" in stored
    assert (await api.post(URL, json={"email": email, "password": PASSWORD})).status_code == 200
