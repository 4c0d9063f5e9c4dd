"""Fake payment providers on free ports (one server per session, state reset per test),
and an app whose adapters talk to them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from commerce.context import AppContext
from shared.settings import CommerceSettings
from tests.commerce.payments.helpers import provider_urls
from tests.conftest import app_client
from tests.fakes.payments.ecpay import FakeEcpay
from tests.fakes.payments.linepay import FakeLinepay
from tests.fakes.payments.newebpay import FakeNewebpay
from tests.fakes.payments.omise import FakeOmise
from tests.fakes.payments.server import reset, serve
from tests.fakes.payments.twoc2p import FakeTwoC2P


@pytest.fixture(scope="session")
def _ecpay_server() -> Iterator[FakeEcpay]:
    with serve(FakeEcpay()) as fake:
        yield fake


@pytest.fixture
def fake_ecpay(_ecpay_server: FakeEcpay) -> FakeEcpay:
    return reset(_ecpay_server)


@pytest.fixture(scope="session")
def _newebpay_server() -> Iterator[FakeNewebpay]:
    with serve(FakeNewebpay()) as fake:
        yield fake


@pytest.fixture
def fake_newebpay(_newebpay_server: FakeNewebpay) -> FakeNewebpay:
    return reset(_newebpay_server)


@pytest.fixture(scope="session")
def _linepay_server() -> Iterator[FakeLinepay]:
    with serve(FakeLinepay()) as fake:
        yield fake


@pytest.fixture
def fake_linepay(_linepay_server: FakeLinepay) -> FakeLinepay:
    return reset(_linepay_server)


@pytest.fixture(scope="session")
def _omise_server() -> Iterator[FakeOmise]:
    with serve(FakeOmise()) as fake:
        yield fake


@pytest.fixture
def fake_omise(_omise_server: FakeOmise) -> FakeOmise:
    return reset(_omise_server)


@pytest.fixture(scope="session")
def _twoc2p_server() -> Iterator[FakeTwoC2P]:
    with serve(FakeTwoC2P()) as fake:
        yield fake


@pytest.fixture
def fake_twoc2p(_twoc2p_server: FakeTwoC2P) -> FakeTwoC2P:
    return reset(_twoc2p_server)


@pytest.fixture
async def pay_ctx(
    commerce_settings: CommerceSettings, clean_db: None, clean_redis: None,
    fake_ecpay: FakeEcpay, fake_newebpay: FakeNewebpay, fake_linepay: FakeLinepay,
    fake_omise: FakeOmise, fake_twoc2p: FakeTwoC2P,
) -> AsyncIterator[AppContext]:
    """An app context whose payment adapters talk to the fakes."""
    settings = commerce_settings.updated(
        payments=provider_urls(ecpay=fake_ecpay, newebpay=fake_newebpay, linepay=fake_linepay,
                               omise=fake_omise, twoc2p=fake_twoc2p)
    )
    context = AppContext.build(settings)
    yield context
    await context.close()


@pytest.fixture
async def pay_api(pay_ctx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(pay_ctx.settings, pay_ctx) as client:
        yield client
        # Inline (broker-less) tasks still running must finish before the loop closes.
        await pay_ctx.inline.drain()
