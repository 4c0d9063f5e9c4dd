"""Refunds succeed against the sandboxes: the adapters' own refund calls, full and partial,
answered in each provider's documented refund format; over-refunds are refused."""

from __future__ import annotations

import httpx
import pytest

from commerce.context import AppContext
from commerce.payments.errors import PaymentProviderError
from commerce.payments.gateways.registry import build
from commerce.payments.models import Payment
from tests.commerce.factories import make_user
from tests.commerce.sandbox.test_payment_sandbox import SANDBOX, start_payment, wait_status

# Backend-independent behaviour: MariaDB and Redis only (the CI time budget).
pytestmark = pytest.mark.parametrize("sandbox_ctx", ["mariadb"], indirect=True)


# One method per provider (the provider that takes the payment does the refund).
PROVIDERS = [("ecpay", "TWD", {}), ("newebpay", "TWD", {}), ("linepay", "THB", {}),
             ("omise_card", "THB", {"token": "tokn_x"}), ("twoc2p", "THB", {}),
             ("googlepay", "TWD", {"token": "prime"})]


async def paid_payment(api: httpx.AsyncClient, ctx: AppContext, method: str, currency: str,
                       extra: dict[str, str]) -> tuple[dict[str, object], Payment]:
    order, payment, buyer, _ = await start_payment(api, ctx, method, currency, extra)
    resp = await api.post(f"{SANDBOX}/{payment['payment_id']}", json={"outcome": "paid"},
                          headers=buyer)
    assert resp.status_code == 200, resp.text
    await wait_status(ctx, int(order["id"]), "paid")
    async with ctx.sessions() as session:
        stored = await session.get(Payment, payment["payment_id"])
    assert stored is not None
    return order, stored


@pytest.mark.parametrize(("method", "currency", "extra"), PROVIDERS,
                         ids=[m for m, _, _ in PROVIDERS])
async def test_partial_then_full_refund_and_no_more(
    sandbox_api: httpx.AsyncClient, sandbox_ctx: AppContext, method: str, currency: str,
    extra: dict[str, str],
) -> None:
    _, payment = await paid_payment(sandbox_api, sandbox_ctx, method, currency, extra)
    gateway = build(sandbox_ctx.settings, payment.provider)
    ids = {"provider_ref": payment.provider_ref, "provider_txn_id": payment.provider_txn_id,
           "currency": payment.currency}
    part = await gateway.refund(amount_minor=10000, **ids)  # 100.00 of 258.00
    assert part.amount_minor == 10000 and part.provider_refund_id
    with pytest.raises(PaymentProviderError):  # more than the 158.00 left
        await gateway.refund(amount_minor=15900, **ids)
    rest = await gateway.refund(amount_minor=15800, **ids)
    # ECPay's and NewebPay's refund answers carry no refund id: the adapter's id names the trade.
    assert rest.amount_minor == 15800 and rest.provider_refund_id
    with pytest.raises(PaymentProviderError):
        await gateway.refund(amount_minor=100, **ids)


async def test_refund_route_refunds_a_sandbox_payment(
    sandbox_api: httpx.AsyncClient, sandbox_ctx: AppContext
) -> None:
    order, payment = await paid_payment(sandbox_api, sandbox_ctx, "ecpay", "TWD", {})
    _, admin_headers = await make_user(sandbox_ctx, "admin")
    resp = await sandbox_api.post(f"/api/v1/orders/{order['id']}/refund",
                                  json={"reason": "sandbox"}, headers=admin_headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "refunded"
    async with sandbox_ctx.sessions() as session:
        stored = await session.get(Payment, payment.id)
    assert stored is not None and stored.status == "refunded" and stored.provider_refund_id


QUERYABLE = [("ecpay", "TWD", {}), ("omise_card", "THB", {"token": "tokn_x"}),
             ("twoc2p", "THB", {}), ("applepay", "TWD", {"token": "prime"})]


@pytest.mark.parametrize(("method", "currency", "extra"), QUERYABLE,
                         ids=[m for m, _, _ in QUERYABLE])
async def test_status_queries_answer_pending_then_paid(
    sandbox_api: httpx.AsyncClient, sandbox_ctx: AppContext, method: str, currency: str,
    extra: dict[str, str],
) -> None:
    """What reconciliation asks a silent provider (ECPay QueryTradeInfo, Omise charge, 2C2P
    paymentInquiry, TapPay Record API), answered by the sandboxes."""
    order, payment, buyer, _ = await start_payment(sandbox_api, sandbox_ctx, method, currency,
                                                   extra)
    async with sandbox_ctx.sessions() as session:
        stored = await session.get(Payment, payment["payment_id"])
    assert stored is not None
    gateway = build(sandbox_ctx.settings, stored.provider)
    ids = {"provider_ref": stored.provider_ref, "provider_txn_id": stored.provider_txn_id,
           "amount_minor": stored.amount_minor, "currency": stored.currency}
    assert (await gateway.query(**ids)).status == "pending"
    resp = await sandbox_api.post(f"{SANDBOX}/{payment['payment_id']}", json={"outcome": "paid"},
                                  headers=buyer)
    assert resp.status_code == 200
    await wait_status(sandbox_ctx, int(order["id"]), "paid")
    answer = await gateway.query(**ids)
    assert (answer.status, answer.provider_ref) == ("succeeded", stored.provider_ref)
    assert (answer.amount_minor, answer.currency) == (25800, currency)
