"""TapPay (Apple Pay / Google Pay in TWD): the adapter against TapPay's documented answers
(the sandbox speaks them), including the answers the sandbox itself never gives: a payment
settled at once without a 3-D Secure step, a decline, a forged notification."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select

from commerce.context import AppContext
from commerce.payments.errors import PaymentProviderError, UnsupportedPayment
from commerce.payments.gateways.base import PaymentRequest
from commerce.payments.gateways.registry import build
from commerce.payments.models import Payment, PaymentNotification
from commerce.sandbox.payments import providers
from tests.commerce.sandbox.test_payment_sandbox import start_payment, wait_status

# Backend-independent behaviour: MariaDB and Redis only (the CI time budget).
pytestmark = pytest.mark.parametrize("sandbox_ctx", ["mariadb"], indirect=True)



def request(**fields: object) -> PaymentRequest:
    base: dict[str, object] = {
        "trade_no": "LCTAPPAYTEST0001", "method": "applepay", "amount_minor": 25800,
        "currency": "TWD", "description": "Order 1", "notify_url": "http://x/notify",
        "return_url": "http://x/back", "cancel_url": "http://x/cancel", "token": "prime",
    }
    return PaymentRequest(**{**base, **fields})  # type: ignore[arg-type]


def rewriting(inner: httpx.AsyncBaseTransport, rewrite: dict[str, object]) -> httpx.MockTransport:
    """TapPay as the sandbox answers, with `rewrite` applied to pay-by-prime's answer."""

    async def handle(req: httpx.Request) -> httpx.Response:
        resp = await inner.handle_async_request(req)
        body = await resp.aread()
        if req.url.path.endswith("/pay-by-prime"):
            answer = {k: v for k, v in {**json.loads(body), **rewrite}.items() if v is not None}
            return httpx.Response(200, json=answer)
        return httpx.Response(resp.status_code, content=body, headers=resp.headers)

    return httpx.MockTransport(handle)


async def test_wallets_refused_where_tappay_cannot_take_them(sandbox_ctx: AppContext) -> None:
    gateway = build(sandbox_ctx.settings, "tappay")
    with pytest.raises(UnsupportedPayment):
        await gateway.create_payment(request(currency="THB"))
    with pytest.raises(UnsupportedPayment) as no_token:
        await gateway.create_payment(request(token=None))
    assert no_token.value.code == "token_required"


async def test_a_decline_is_402(sandbox_ctx: AppContext) -> None:
    gateway = build(sandbox_ctx.settings, "tappay")
    gateway.transport = rewriting(providers.transport(sandbox_ctx.settings),  # type: ignore[attr-defined]
                                  {"status": 10003, "msg": "Card declined"})
    with pytest.raises(PaymentProviderError) as declined:
        await gateway.create_payment(request())
    assert (declined.value.code, declined.value.status) == ("payment_declined", 402)


async def test_payment_without_a_3ds_step_is_settled_from_the_answer(
    sandbox_api: httpx.AsyncClient, sandbox_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = providers.transport
    monkeypatch.setattr(providers, "transport",
                        lambda settings: rewriting(real(settings), {"payment_url": None}))
    order, payment, _, _ = await start_payment(sandbox_api, sandbox_ctx, "googlepay", "TWD",
                                               {"token": "prime"})
    assert payment["action"]["type"] == "redirect"
    assert "/payments/return" in payment["action"]["url"]  # nothing to do at TapPay's
    await wait_status(sandbox_ctx, order["id"], "paid")


async def test_a_notification_tappay_does_not_confirm_is_refused(
    sandbox_api: httpx.AsyncClient, sandbox_ctx: AppContext
) -> None:
    _, payment, _, _ = await start_payment(sandbox_api, sandbox_ctx, "applepay", "TWD",
                                           {"token": "prime"})
    forged = {"rec_trade_id": "D2024NOTREAL", "order_number": "LC0", "amount": 258, "status": 0}
    resp = await sandbox_api.post("/api/v1/payments/webhooks/tappay", json=forged)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_signature"
    async with sandbox_ctx.sessions() as session:
        stored = await session.get(Payment, payment["payment_id"])
        assert stored is not None and stored.provider_txn_id
        # The real record, still pending at TapPay, is not paid however the body puts it.
        real = {**forged, "rec_trade_id": stored.provider_txn_id}
    resp = await sandbox_api.post("/api/v1/payments/webhooks/tappay", json=real)
    assert resp.status_code == 200
    async with sandbox_ctx.sessions() as session:
        note = await session.scalar(select(PaymentNotification))
    assert note is not None and note.status == "pending" and note.amount_minor == 25800
