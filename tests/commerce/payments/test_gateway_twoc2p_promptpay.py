"""2C2P adapter against the fake (JWT both ways) and the direct PromptPay QR.

Refunds (Payment Maintenance API): test_gateway_twoc2p_refund.py."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest

from commerce.payment_wire import promptpay_qr
from commerce.payment_wire.wire_errors import SignatureMismatch
from commerce.payments.errors import UnsupportedPayment
from commerce.payments.gateways.base import PaymentRequest, RawNotification
from commerce.payments.gateways.registry import build
from tests.commerce.payments.helpers import settings_for
from tests.fakes.payments.twoc2p import FakeTwoC2P

TRADE = "LC00000000000000T1"


def request(method: str = "twoc2p", currency: str = "THB") -> PaymentRequest:
    return PaymentRequest(
        trade_no=TRADE, method=method, amount_minor=123456, currency=currency,
        description="item", notify_url="https://shop.test/api/v1/payments/webhooks/twoc2p",
        return_url="https://shop.test/return", cancel_url="https://shop.test/cancel",
    )


async def test_payment_token_redirect_and_signed_notification(fake_twoc2p: FakeTwoC2P) -> None:
    gateway = build(settings_for(twoc2p=fake_twoc2p), "twoc2p")
    created = await gateway.create_payment(request())
    assert created.action["type"] == "redirect"
    assert fake_twoc2p.invoices[TRADE]["request"]["amount"] == Decimal("1234.56")
    headers, body = fake_twoc2p.notification(TRADE)
    parsed = gateway.parse_notification(
        await gateway.verify_notification(RawNotification(headers, body))
    )
    assert (parsed.status, parsed.amount_minor, parsed.currency) == ("succeeded", 123456, "THB")
    queried = await gateway.query(provider_ref=TRADE, provider_txn_id=None, amount_minor=123456,
                                  currency="THB")
    assert queried.status == "succeeded"


async def test_forged_and_tampered_notifications_are_rejected(fake_twoc2p: FakeTwoC2P) -> None:
    gateway = build(settings_for(twoc2p=fake_twoc2p), "twoc2p")
    await gateway.create_payment(request())
    headers, forged = fake_twoc2p.notification(TRADE, secret="A" * 64)
    with pytest.raises(SignatureMismatch):
        await gateway.verify_notification(RawNotification(headers, forged))
    with pytest.raises(SignatureMismatch):
        await gateway.verify_notification(RawNotification(headers, b'{"respCode":"0000"}'))
    _, genuine = fake_twoc2p.notification(TRADE, amount=Decimal("1.00"))
    verified = await gateway.verify_notification(RawNotification(headers, genuine))
    assert gateway.parse_notification(verified).amount_minor == 100  # flagged downstream


async def test_direct_promptpay_is_a_qr_with_no_notifications() -> None:
    gateway = build(settings_for(), "promptpay")
    created = await gateway.create_payment(request("promptpay"))
    payload = created.action["payload"]
    assert promptpay_qr.verify_crc(payload)
    assert dict(promptpay_qr.parse_fields(payload))["54"] == "1234.56"
    assert base64.b64decode(created.action["image_png_base64"]).startswith(b"\x89PNG")
    with pytest.raises(SignatureMismatch):
        await gateway.verify_notification(RawNotification({}, b"anything"))
    with pytest.raises(UnsupportedPayment):
        await gateway.create_payment(request("promptpay", currency="TWD"))
