"""Sandboxes are for development only: production never mounts them and refuses to start
when told to use one; development uses them only while a provider has no credentials."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager

from commerce.app import create_app
from commerce.context import AppContext
from shared.errors import ConfigError
from shared.settings import CommerceSettings, load
from tests.commerce.payments.test_payment_settings import PRODUCTION_VALUES, merged


def dev(**overrides: object) -> CommerceSettings:
    return CommerceSettings(_env_file=None, **overrides)  # type: ignore[call-arg]


def test_local_sandbox_only_in_development_without_credentials() -> None:
    assert all(dev().uses_local_sandbox(p)
               for p in ("ecpay", "newebpay", "linepay", "omise", "twoc2p", "tappay"))
    assert not dev().uses_local_sandbox("promptpay")  # no provider behind it: nothing to fake
    own = dev(payments={"ecpay": {"merchant_id": "3999999"}})
    assert not own.uses_local_sandbox("ecpay") and own.uses_local_sandbox("omise")
    assert not dev(payments={"ecpay": {"sandbox": "public"}}).uses_local_sandbox("ecpay")
    assert not dev(app_env="test").uses_local_sandbox("ecpay")
    assert dev(app_env="test", payments={"ecpay": {"sandbox": "local"}}).uses_local_sandbox("ecpay")
    assert not dev(app_env="production",
                   payments={"ecpay": {"sandbox": "local"}}).uses_local_sandbox("ecpay")


def test_production_refuses_to_start_when_told_to_use_a_sandbox(ctx: AppContext) -> None:
    base = merged(ctx.settings.model_dump(), payments=PRODUCTION_VALUES, app_env="production",
                  cors_origins=["https://shop.example"])
    ready = CommerceSettings(**base, _env_file=None)  # type: ignore[arg-type]
    assert ready.payments.sandbox_production_problems() == []
    for mode in ("local", "public"):
        told = CommerceSettings(**merged(base, payments={"linepay": {"sandbox": mode}}),
                                _env_file=None)  # type: ignore[arg-type]
        [line] = told.payments.sandbox_production_problems()
        assert f"LINEPAY_SANDBOX={mode}" in line
    with pytest.raises(ConfigError, match="TAPPAY_SANDBOX=local"):
        load(CommerceSettings, app_env="production", payments={"tappay": {"sandbox": "local"}},
             _env_file=None)


async def test_production_never_mounts_the_sandboxes(ctx: AppContext) -> None:
    prod = ctx.settings.model_copy(update={"app_env": "production"})
    devel = ctx.settings.model_copy(update={"app_env": "development"})
    for settings, expected in ((prod, 404), (devel, 401)):
        app = create_app(settings, ctx=ctx)
        async with LifespanManager(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            resp = await client.post("/api/v1/sandbox/payments/1", json={"outcome": "paid"})
            assert resp.status_code == expected
            page = await client.get("/sandbox/payments/ecpay/pay/LC0")
            assert page.status_code == 404
            assert page.headers["content-type"].startswith(
                "application/json" if settings is prod else "text/html")
