"""NewebPay adapter against the fake: sealed MPG form, encrypted notification, refund."""

from __future__ import annotations

import httpx
import pytest

from commerce.payment_wire.wire_errors import SignatureMismatch
from commerce.payments.gateways.base import PaymentRequest, RawNotification
from commerce.payments.gateways.registry import build
from tests.commerce.payments.helpers import settings_for
from tests.fakes.payments.newebpay import FakeNewebpay

TRADE = "LC00000000000000N1"


async def checkout(fake: FakeNewebpay) -> None:
    gateway = build(settings_for(newebpay=fake), "newebpay")
    created = await gateway.create_payment(
        PaymentRequest(
            trade_no=TRADE, method="newebpay", amount_minor=49900, currency="TWD",
            description="T-shirt", notify_url="https://shop.test/api/v1/payments/webhooks/newebpay",
            return_url="https://shop.test/return", cancel_url="https://shop.test/cancel",
        )
    )
    assert created.action["type"] == "form_post"
    assert set(created.action["fields"]) == {"MerchantID", "TradeInfo", "TradeSha", "Version"}
    async with httpx.AsyncClient() as client:
        resp = await client.post(created.action["url"], data=created.action["fields"])
    assert resp.status_code == 200, resp.text


async def test_mpg_form_is_accepted_and_carries_the_amount(fake_newebpay: FakeNewebpay) -> None:
    await checkout(fake_newebpay)
    params = fake_newebpay.trades[TRADE]["params"]
    assert (params["Amt"], params["RespondType"], params["Version"]) == ("499", "JSON", "2.0")


async def test_notification_decrypts_verifies_and_parses(fake_newebpay: FakeNewebpay) -> None:
    await checkout(fake_newebpay)
    gateway = build(settings_for(newebpay=fake_newebpay), "newebpay")
    headers, body = fake_newebpay.notification(TRADE)
    parsed = gateway.parse_notification(
        await gateway.verify_notification(RawNotification(headers, body))
    )
    assert (parsed.provider_ref, parsed.amount_minor, parsed.currency) == (TRADE, 49900, "TWD")
    assert parsed.status == "succeeded"
    headers, body = fake_newebpay.notification(TRADE, status="MPG03008")
    verified = await gateway.verify_notification(RawNotification(headers, body))
    assert gateway.parse_notification(verified).status == "failed"


async def test_forged_trade_sha_and_tampered_trade_info_are_rejected(
    fake_newebpay: FakeNewebpay,
) -> None:
    await checkout(fake_newebpay)
    gateway = build(settings_for(newebpay=fake_newebpay), "newebpay")
    headers, forged = fake_newebpay.notification(TRADE, forge_sha=True)
    with pytest.raises(SignatureMismatch):
        await gateway.verify_notification(RawNotification(headers, forged))
    _, genuine = fake_newebpay.notification(TRADE)
    i = genuine.index(b"TradeInfo=") + len(b"TradeInfo=")
    flipped = genuine[:i] + (b"0" if genuine[i : i + 1] != b"0" else b"1") + genuine[i + 1 :]
    with pytest.raises(SignatureMismatch):
        await gateway.verify_notification(RawNotification(headers, flipped))


async def test_refund_posts_encrypted_close_request(fake_newebpay: FakeNewebpay) -> None:
    await checkout(fake_newebpay)
    fake_newebpay.notification(TRADE)
    gateway = build(settings_for(newebpay=fake_newebpay), "newebpay")
    result = await gateway.refund(provider_ref=TRADE, provider_txn_id=None, amount_minor=49900,
                                  currency="TWD")
    assert result.amount_minor == 49900
    assert fake_newebpay.refunds[0]["Amt"] == "499"
    assert fake_newebpay.refunds[0]["CloseType"] == "2"
