"""ECPay adapter against the fake over real HTTP: form post, notification, query, refund."""

from __future__ import annotations

import httpx
import pytest

from commerce.payment_wire.wire_errors import SignatureMismatch
from commerce.payments.errors import UnsupportedPayment
from commerce.payments.gateways.base import PaymentRequest, RawNotification
from commerce.payments.gateways.registry import build
from tests.commerce.payments.helpers import settings_for
from tests.fakes.payments.ecpay import FakeEcpay


def request(trade_no: str = "LC0000000000000001", amount_minor: int = 129000) -> PaymentRequest:
    return PaymentRequest(
        trade_no=trade_no, method="ecpay", amount_minor=amount_minor, currency="TWD",
        description="藍牙耳機 x1", notify_url="https://shop.test/api/v1/payments/webhooks/ecpay",
        return_url="https://shop.test/return", cancel_url="https://shop.test/cancel",
    )


async def checkout(fake: FakeEcpay, trade_no: str = "LC0000000000000001") -> None:
    """Post the action's form to the fake's checkout page, as the shopper's browser would."""
    gateway = build(settings_for(ecpay=fake), "ecpay")
    created = await gateway.create_payment(request(trade_no))
    async with httpx.AsyncClient() as client:
        resp = await client.post(created.action["url"], data=created.action["fields"])
    assert resp.status_code == 200, resp.text


async def test_create_is_a_signed_form_post_the_fake_accepts(fake_ecpay: FakeEcpay) -> None:
    gateway = build(settings_for(ecpay=fake_ecpay), "ecpay")
    created = await gateway.create_payment(request())
    action = created.action
    assert action["type"] == "form_post"
    assert action["url"] == f"{fake_ecpay.base_url}/Cashier/AioCheckOut/V5"
    assert action["fields"]["TotalAmount"] == "1290"  # whole TWD dollars
    assert action["fields"]["MerchantTradeNo"] == "LC0000000000000001"
    await checkout(fake_ecpay)
    assert "LC0000000000000001" in fake_ecpay.trades


async def test_notification_verifies_parses_and_answers_1_ok(fake_ecpay: FakeEcpay) -> None:
    await checkout(fake_ecpay)
    gateway = build(settings_for(ecpay=fake_ecpay), "ecpay")
    headers, body = fake_ecpay.notification("LC0000000000000001")
    parsed = gateway.parse_notification(
        await gateway.verify_notification(RawNotification(headers, body))
    )
    assert parsed.provider_ref == "LC0000000000000001"
    assert (parsed.amount_minor, parsed.currency, parsed.status) == (129000, "TWD", "succeeded")
    assert parsed.provider_txn_id and parsed.provider_event_id.startswith(parsed.provider_txn_id)
    assert gateway.answer(parsed).body == "1|OK"


async def test_forged_or_tampered_notification_is_rejected(fake_ecpay: FakeEcpay) -> None:
    await checkout(fake_ecpay)
    gateway = build(settings_for(ecpay=fake_ecpay), "ecpay")
    headers, body = fake_ecpay.notification("LC0000000000000001")
    tampered = body.replace(b"TradeAmt=1290", b"TradeAmt=1")
    assert tampered != body
    with pytest.raises(SignatureMismatch):
        await gateway.verify_notification(RawNotification(headers, tampered))
    forger = FakeEcpay(hash_key="0" * 16)
    forger.trades = fake_ecpay.trades
    _, forged = forger.notification("LC0000000000000001")
    with pytest.raises(SignatureMismatch):
        await gateway.verify_notification(RawNotification(headers, forged))


async def test_failed_and_simulated_payments_are_not_success(fake_ecpay: FakeEcpay) -> None:
    await checkout(fake_ecpay)
    gateway = build(settings_for(ecpay=fake_ecpay), "ecpay")
    for kwargs, status in (({"rtn_code": "10100058"}, "failed"), ({"simulate": True}, "pending")):
        headers, body = fake_ecpay.notification("LC0000000000000001", **kwargs)  # type: ignore[arg-type]
        verified = await gateway.verify_notification(RawNotification(headers, body))
        assert gateway.parse_notification(verified).status == status


async def test_query_trade_info_and_refund(fake_ecpay: FakeEcpay) -> None:
    await checkout(fake_ecpay)
    gateway = build(settings_for(ecpay=fake_ecpay), "ecpay")
    before = await gateway.query(provider_ref="LC0000000000000001", provider_txn_id=None,
                                 amount_minor=129000, currency="TWD")
    assert before.status == "pending"
    fake_ecpay.notification("LC0000000000000001")
    after = await gateway.query(provider_ref="LC0000000000000001", provider_txn_id=None,
                                amount_minor=129000, currency="TWD")
    assert (after.status, after.amount_minor) == ("succeeded", 129000)
    refund = await gateway.refund(provider_ref="LC0000000000000001",
                                  provider_txn_id=after.provider_txn_id, amount_minor=129000,
                                  currency="TWD")
    assert refund.amount_minor == 129000
    assert fake_ecpay.refunds[0]["Action"] == "R" and fake_ecpay.refunds[0]["TotalAmount"] == "1290"


async def test_cents_and_thb_are_refused(fake_ecpay: FakeEcpay) -> None:
    gateway = build(settings_for(ecpay=fake_ecpay), "ecpay")
    with pytest.raises(UnsupportedPayment):
        await gateway.create_payment(request(amount_minor=129050))
