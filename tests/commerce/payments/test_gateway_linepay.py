"""LINE Pay adapter against the fake: signed request, redirect, check + confirm, refund."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from commerce.payment_wire.wire_errors import SignatureMismatch
from commerce.payments.errors import PaymentProviderError
from commerce.payments.gateways.base import PaymentRequest, RawNotification
from commerce.payments.gateways.registry import build
from tests.commerce.payments.helpers import settings_for
from tests.fakes.payments.linepay import FakeLinepay

TRADE = "LC00000000000000L1"


def request(currency: str = "TWD", amount_minor: int = 100000) -> PaymentRequest:
    return PaymentRequest(
        trade_no=TRADE, method="linepay", amount_minor=amount_minor, currency=currency,
        description="耳機", notify_url="https://shop.test/api/v1/payments/webhooks/linepay",
        return_url="https://shop.test/return", cancel_url="https://shop.test/cancel",
    )


async def test_request_redirects_and_keeps_the_19_digit_id_exact(
    fake_linepay: FakeLinepay,
) -> None:
    gateway = build(settings_for(linepay=fake_linepay), "linepay")
    created = await gateway.create_payment(request())
    assert created.action == {"type": "redirect",
                              "url": f"{fake_linepay.base_url}/web/pay/{created.provider_txn_id}"}
    assert created.provider_txn_id is not None and len(created.provider_txn_id) == 19
    assert int(created.provider_txn_id) in fake_linepay.payments  # exact, not float-rounded
    assert fake_linepay.payments[int(created.provider_txn_id)]["request"]["amount"] == 1000


async def test_wrong_channel_secret_is_refused_by_the_provider(fake_linepay: FakeLinepay) -> None:
    settings = settings_for(linepay=fake_linepay).updated(
        payments={"linepay": {"channel_secret": SecretStr("wrong")}}
    )
    with pytest.raises(PaymentProviderError):
        await build(settings, "linepay").create_payment(request())


async def test_return_is_checked_then_confirmed_with_our_amount(fake_linepay: FakeLinepay) -> None:
    gateway = build(settings_for(linepay=fake_linepay), "linepay")
    created = await gateway.create_payment(request())
    query = fake_linepay.approve(created.provider_txn_id or "")
    parsed = gateway.parse_notification(
        await gateway.verify_notification(RawNotification({}, b"", query))
    )
    assert (parsed.status, parsed.provider_ref, parsed.amount_minor) == ("authorized", TRADE, None)
    confirmed = await gateway.confirm(parsed, amount_minor=100000, currency="TWD")
    assert (confirmed.status, confirmed.amount_minor, confirmed.currency) == (
        "succeeded", 100000, "TWD")
    refund = await gateway.refund(provider_ref=TRADE, provider_txn_id=created.provider_txn_id,
                                  amount_minor=100000, currency="TWD")
    assert len(refund.provider_refund_id) == 19
    assert fake_linepay.refunds[0]["refundAmount"] == 1000


async def test_unknown_or_unapproved_transaction_is_rejected(fake_linepay: FakeLinepay) -> None:
    gateway = build(settings_for(linepay=fake_linepay), "linepay")
    created = await gateway.create_payment(request())
    for query in (
        {"transactionId": "2024112400000099999", "orderId": TRADE},  # unknown to LINE Pay
        {"transactionId": created.provider_txn_id or "", "orderId": TRADE},  # not approved
        {"transactionId": "1.0e18", "orderId": TRADE},
    ):
        with pytest.raises(SignatureMismatch):
            await gateway.verify_notification(RawNotification({}, b"", query))


async def test_captured_amount_is_what_line_pay_reports(fake_linepay: FakeLinepay) -> None:
    gateway = build(settings_for(linepay=fake_linepay), "linepay")
    created = await gateway.create_payment(request(currency="THB", amount_minor=12050))
    query = fake_linepay.approve(created.provider_txn_id or "", paid=1)
    parsed = gateway.parse_notification(
        await gateway.verify_notification(RawNotification({}, b"", query))
    )
    confirmed = await gateway.confirm(parsed, amount_minor=12050, currency="THB")
    assert confirmed.amount_minor == 100  # the settlement task flags this mismatch
