"""Settings that point the payment adapters at the fake providers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select

from commerce.context import AppContext
from commerce.payments.models import PaymentNotification
from shared.settings import CommerceSettings
from tests.fakes.payments import twoc2p as fake_twoc2p


def provider_urls(**fakes: Any) -> dict[str, Any]:
    """Payment settings overrides (`payments=`) sending each given provider's traffic to its
    fake (for 2C2P also the maintenance URL and the RSA keys the fake knows: the merchant's and
    "2C2P's" public one)."""
    urls: dict[str, Any] = {}
    for name, fake in fakes.items():
        if name == "omise":
            urls[name] = {"api_url": fake.base_url, "vault_url": fake.base_url}
        else:
            urls[name] = {"base_url": fake.base_url}
        if name == "twoc2p":
            urls[name].update(
                maintenance_url=fake.maintenance_url,
                merchant_private_key=SecretStr(fake_twoc2p.MERCHANT_PRIVATE_PEM),
                public_key=fake_twoc2p.PROVIDER_PUBLIC_PEM,
            )
    return urls


def settings_for(**fakes: Any) -> CommerceSettings:
    return CommerceSettings(
        app_env="test", payments={"http_timeout_s": 5.0, **provider_urls(**fakes)},
        _env_file=None,  # type: ignore[call-arg]
    )


async def wait_settled(
    ctx: AppContext, provider: str, *, count: int = 1, timeout: float = 10.0
) -> list[PaymentNotification]:
    """Notifications of `provider` once `count` of them are processed (the inline task runs in
    the background of the API's loop; poll the database instead of sleeping a fixed time)."""
    deadline = time.monotonic() + timeout
    while True:
        async with ctx.sessions() as session:
            rows = (
                await session.scalars(
                    select(PaymentNotification)
                    .where(PaymentNotification.provider == provider)
                    .order_by(PaymentNotification.id)
                )
            ).all()
        done = [r for r in rows if r.processed_at is not None]
        if len(done) >= count:
            return list(rows)
        if time.monotonic() > deadline:
            raise AssertionError(f"{provider} notifications not processed: {rows}")
        await asyncio.sleep(0.02)
