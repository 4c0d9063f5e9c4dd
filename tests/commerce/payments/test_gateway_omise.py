"""Omise adapter against the fake: card, wallets, PromptPay QR, TrueMoney, events, refunds."""

from __future__ import annotations

import base64
import json

import pytest

from commerce.payment_wire.wire_errors import SignatureMismatch
from commerce.payments.errors import PaymentProviderError, UnsupportedPayment
from commerce.payments.gateways.base import (
    IrrelevantNotification,
    PaymentRequest,
    RawNotification,
)
from commerce.payments.gateways.registry import build
from tests.commerce.payments.helpers import settings_for
from tests.fakes.payments.omise import FakeOmise


def request(method: str, **extra: str) -> PaymentRequest:
    return PaymentRequest(
        trade_no=f"LC{method[:4].upper()}000000000001", method=method, amount_minor=35000,
        currency="THB", description="หูฟัง", notify_url="https://shop.test/wh/omise",
        return_url="https://shop.test/return", cancel_url="https://shop.test/cancel", **extra,
    )


async def test_card_token_is_charged(fake_omise: FakeOmise) -> None:
    gateway = build(settings_for(omise=fake_omise), "omise")
    created = await gateway.create_payment(request("omise_card", token="tokn_test_ok"))
    charge = fake_omise.charges[created.provider_txn_id or ""]
    assert (charge["amount"], charge["currency"], charge["status"]) == (35000, "thb", "successful")
    assert charge["metadata"] == {"trade_no": "LCOMIS000000000001"}
    with pytest.raises(UnsupportedPayment):
        await gateway.create_payment(request("omise_card"))
    with pytest.raises(PaymentProviderError):
        await gateway.create_payment(request("omise_card", token="tokn_test_declined"))


@pytest.mark.parametrize("method", ["applepay", "googlepay"])
async def test_wallet_payment_data_becomes_a_vault_token(
    fake_omise: FakeOmise, method: str
) -> None:
    gateway = build(settings_for(omise=fake_omise), "omise")
    created = await gateway.create_payment(request(method, token='{"signature":"..."}'))
    (token,) = fake_omise.tokens.values()
    assert token["tokenization"] == method
    assert fake_omise.charges[created.provider_txn_id or ""]["status"] == "successful"


async def test_promptpay_source_gives_the_charge_qr(fake_omise: FakeOmise) -> None:
    gateway = build(settings_for(omise=fake_omise), "omise")
    created = await gateway.create_payment(request("promptpay"))
    action = created.action
    assert action["type"] == "qr"
    assert base64.b64decode(action["image_png_base64"]).startswith(b"\x89PNG")
    assert fake_omise.charges[created.provider_txn_id or ""]["source"]["type"] == "promptpay"


async def test_truemoney_redirects_to_authorize_uri(fake_omise: FakeOmise) -> None:
    gateway = build(settings_for(omise=fake_omise), "omise")
    created = await gateway.create_payment(request("truemoney", phone_number="0812345678"))
    assert created.action["type"] == "redirect"
    assert created.action["url"].endswith("/authorize")


async def test_webhook_is_trusted_only_after_refetching_the_event(fake_omise: FakeOmise) -> None:
    gateway = build(settings_for(omise=fake_omise), "omise")
    created = await gateway.create_payment(request("promptpay"))
    headers, body = fake_omise.complete(created.provider_txn_id or "")
    parsed = gateway.parse_notification(
        await gateway.verify_notification(RawNotification(headers, body))
    )
    assert (parsed.status, parsed.amount_minor, parsed.currency) == ("succeeded", 35000, "THB")
    assert parsed.provider_ref == "LCPROM000000000001"

    # A forged body (made-up event id, or a real id with edited data) proves nothing: the
    # adapter uses what the API says.
    event = json.loads(body)
    forged = dict(event, id="evnt_test_made_up")
    with pytest.raises(SignatureMismatch):
        await gateway.verify_notification(RawNotification(headers, json.dumps(forged).encode()))
    event["data"]["amount"] = 1
    edited = json.dumps(event).encode()
    verified = await gateway.verify_notification(RawNotification(headers, edited))
    assert gateway.parse_notification(verified).amount_minor == 35000


async def test_refund_and_query(fake_omise: FakeOmise) -> None:
    gateway = build(settings_for(omise=fake_omise), "omise")
    created = await gateway.create_payment(request("omise_card", token="tokn_test_ok"))
    queried = await gateway.query(provider_ref="", provider_txn_id=created.provider_txn_id,
                                  amount_minor=35000, currency="THB")
    assert queried.status == "succeeded"
    refund = await gateway.refund(provider_ref="", provider_txn_id=created.provider_txn_id,
                                  amount_minor=35000, currency="THB")
    assert refund.provider_refund_id.startswith("rfnd_")
    assert fake_omise.charges[created.provider_txn_id or ""]["refunded_amount"] == 35000
    # Omise then posts `refund.create`: authentic, but nothing to settle.
    [refund_event] = [e for e in fake_omise.events.values() if e["key"] == "refund.create"]
    with pytest.raises(IrrelevantNotification):
        await gateway.verify_notification(
            RawNotification({}, json.dumps({"object": "event", "id": refund_event["id"]}).encode())
        )
