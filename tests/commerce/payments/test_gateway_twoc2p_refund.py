"""2C2P refunds through the Payment Maintenance API, against the fake over real HTTP.

Wire format (developer.2c2p.com/docs/payment-maintenance-refund-guide and
docs/reference-jwt-with-key): a compact JWS (PS256, merchant key) whose payload is a compact
JWE (RSA-OAEP + A256GCM, to 2C2P's key) of a `<PaymentProcessRequest>` XML; the answer is
sealed the other way round. Result codes: docs/reference-codes-payment-action-result-code.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from joserfc import jws

from commerce.payment_wire import twoc2p_keys
from commerce.payment_wire import twoc2p_maintenance as maint
from commerce.payment_wire.wire_errors import SignatureMismatch, WireFormatError
from commerce.payments.errors import PaymentProviderError, RefundUnsupported
from commerce.payments.gateways.base import PaymentRequest
from commerce.payments.gateways.registry import build
from tests.commerce.payments.helpers import settings_for
from tests.fakes.payments import twoc2p as fake_keys
from tests.fakes.payments.twoc2p import FakeTwoC2P

TRADE = "LC00000000000000R1"
# The start of the example request token in the refund guide
# (https://developer.2c2p.com/docs/payment-maintenance-refund-guide): the JWS header
# {"alg":"PS256","typ":"JWT"}, then base64url of the JWE text, whose first 45 bytes are the
# JWE header {"alg":"RSA-OAEP","enc":"A256GCM"} and its dot. Both are deterministic, so our
# tokens must start with exactly these characters.
DOC_TOKEN_START = (
    "eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9."
    "ZXlKaGJHY2lPaUpTVTBFdFQwRkZVQ0lzSW1WdVl5STZJa0V5TlRaSFEwMGlm"
)
MERCHANT = maint.key_pair(fake_keys.MERCHANT_PRIVATE_PEM, fake_keys.PROVIDER_PUBLIC_PEM)
PROVIDER = maint.key_pair(fake_keys.PROVIDER_PRIVATE_PEM, fake_keys.MERCHANT_PUBLIC_PEM)


def _b64json(segment: str) -> dict[str, str]:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


async def _paid(fake: FakeTwoC2P, amount_minor: int = 123456) -> None:
    """A payment 2C2P knows as paid (payment token, then its success notification)."""
    gateway = build(settings_for(twoc2p=fake), "twoc2p")
    await gateway.create_payment(PaymentRequest(
        trade_no=TRADE, method="twoc2p", amount_minor=amount_minor, currency="THB",
        description="item", notify_url="https://shop.test/api/v1/payments/webhooks/twoc2p",
        return_url="https://shop.test/return", cancel_url="https://shop.test/cancel",
    ))
    fake.notification(TRADE)


def test_envelope_has_the_documented_shape_and_round_trips() -> None:
    document = maint.refund_request(merchant_id="JT07", invoice_no="260121085327",
                                    amount=Decimal("25"))
    # Element order of the guide's example; version as in its parameter table ("4.3").
    assert document == (
        b"<PaymentProcessRequest><version>4.3</version><merchantID>JT07</merchantID>"
        b"<invoiceNo>260121085327</invoiceNo><actionAmount>25.00</actionAmount>"
        b"<processType>R</processType></PaymentProcessRequest>"
    )
    token = maint.seal(document, MERCHANT)
    assert token.startswith(DOC_TOKEN_START)
    header, payload, _ = token.split(".")
    assert _b64json(header) == {"alg": "PS256", "typ": "JWT"}
    inner = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert inner.count(".") == 4 and _b64json(inner.split(".")[0]) == {
        "alg": "RSA-OAEP", "enc": "A256GCM"}
    assert maint.unseal(token, PROVIDER) == document


def test_unseal_refuses_wrong_keys_algorithms_and_hostile_xml() -> None:
    token = maint.seal(b"<PaymentProcessResponse/>", PROVIDER)
    with pytest.raises(SignatureMismatch):  # verified with the wrong public key
        maint.unseal(token, maint.KeyPair(MERCHANT.own_private, MERCHANT.own_private))
    with pytest.raises(SignatureMismatch):
        maint.unseal(b"<PaymentProcessResponse><respCode>00</respCode>"
                     b"</PaymentProcessResponse>", MERCHANT)  # unsigned XML
    # Signed with 2C2P's key but RS256 instead of PS256: the algorithm is pinned.
    inner = token.split(".")[1]
    rs256 = jws.serialize_compact({"alg": "RS256"}, base64.urlsafe_b64decode(
        inner + "=" * (-len(inner) % 4)), PROVIDER.own_private, algorithms=["RS256"])
    with pytest.raises(SignatureMismatch):
        maint.unseal(rs256, MERCHANT)
    # Properly signed, but encrypted to someone else: authentic yet unreadable.
    stranger = maint.key_pair(fake_keys.PROVIDER_PRIVATE_PEM, fake_keys.PROVIDER_PUBLIC_PEM)
    with pytest.raises(WireFormatError):
        maint.unseal(maint.seal(b"<x/>", stranger), MERCHANT)
    with pytest.raises(WireFormatError):  # DTDs/entities are refused (defusedxml)
        maint.parse_xml(b'<!DOCTYPE r [<!ENTITY e "00">]><PaymentProcessResponse>'
                        b"<respCode>&e;</respCode></PaymentProcessResponse>", maint.RESPONSE_TAG)
    with pytest.raises(ValueError):
        maint.public_key(fake_keys.MERCHANT_PRIVATE_PEM)  # a private key where 2C2P's belongs


async def test_refund_succeeds_and_the_fake_saw_a_signed_encrypted_request(
    fake_twoc2p: FakeTwoC2P,
) -> None:
    await _paid(fake_twoc2p)
    gateway = build(settings_for(twoc2p=fake_twoc2p), "twoc2p")
    result = await gateway.refund(provider_ref=TRADE, provider_txn_id=None,
                                  amount_minor=123456, currency="THB")
    assert result.amount_minor == 123456 and result.provider_refund_id.startswith("RF")
    [seen] = fake_twoc2p.refunds
    assert seen == {"version": "4.3", "merchantID": "JT01", "invoiceNo": TRADE,
                    "actionAmount": "1234.56", "processType": "R"}


async def test_refund_above_what_was_paid_is_a_clean_refusal(fake_twoc2p: FakeTwoC2P) -> None:
    await _paid(fake_twoc2p, amount_minor=10000)
    gateway = build(settings_for(twoc2p=fake_twoc2p), "twoc2p")
    with pytest.raises(PaymentProviderError) as over:
        await gateway.refund(provider_ref=TRADE, provider_txn_id=None, amount_minor=10001,
                             currency="THB")
    assert (over.value.code, over.value.status) == ("refund_refused", 409)
    assert over.value.details["provider_code"] == "40"
    assert fake_twoc2p.refunds == []
    await gateway.refund(provider_ref=TRADE, provider_txn_id=None, amount_minor=10000,
                         currency="THB")
    with pytest.raises(PaymentProviderError) as again:  # nothing left to refund
        await gateway.refund(provider_ref=TRADE, provider_txn_id=None, amount_minor=10000,
                             currency="THB")
    assert again.value.details["provider_code"] == "49"
    with pytest.raises(PaymentProviderError) as unknown:
        await gateway.refund(provider_ref="NOSUCHINVOICE", provider_txn_id=None,
                             amount_minor=100, currency="THB")
    assert unknown.value.details["provider_code"] == "16"


async def test_a_reply_not_signed_by_2c2p_is_rejected(fake_twoc2p: FakeTwoC2P) -> None:
    await _paid(fake_twoc2p)
    fake_twoc2p.signing_key_pem = twoc2p_keys.generate_private_pem()  # an impostor's key
    gateway = build(settings_for(twoc2p=fake_twoc2p), "twoc2p")
    with pytest.raises(PaymentProviderError) as rejected:
        await gateway.refund(provider_ref=TRADE, provider_txn_id=None, amount_minor=123456,
                             currency="THB")
    assert (rejected.value.code, rejected.value.status) == ("payment_provider_error", 502)
    assert isinstance(rejected.value.__cause__, SignatureMismatch)


async def test_the_fake_refuses_unsigned_and_forged_requests(fake_twoc2p: FakeTwoC2P) -> None:
    await _paid(fake_twoc2p)
    document = maint.refund_request(merchant_id="JT01", invoice_no=TRADE,
                                    amount=Decimal("1234.56"))
    impostor = maint.key_pair(twoc2p_keys.generate_private_pem(), fake_keys.PROVIDER_PUBLIC_PEM)
    async with httpx.AsyncClient() as client:
        for body in (document.decode(), maint.seal(document, impostor)):
            resp = await client.post(fake_twoc2p.maintenance_url, content=body,
                                     headers={"Content-Type": "text/plain"})
            assert resp.status_code == 401
    assert fake_twoc2p.rejected == 2 and fake_twoc2p.refunds == []


async def test_refunds_without_2c2p_public_key_stay_manual(fake_twoc2p: FakeTwoC2P) -> None:
    settings = settings_for(twoc2p=fake_twoc2p).updated(payments={"twoc2p": {"public_key": None}})
    with pytest.raises(RefundUnsupported):
        await build(settings, "twoc2p").refund(provider_ref=TRADE, provider_txn_id=None,
                                               amount_minor=100, currency="THB")
    garbled = settings.updated(
        payments={"twoc2p": {"public_key": "-----BEGIN PUBLIC KEY-----x"}})
    with pytest.raises(RefundUnsupported):
        await build(garbled, "twoc2p").refund(provider_ref=TRADE, provider_txn_id=None,
                                              amount_minor=100, currency="THB")


def test_development_merchant_key_is_generated_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "var" / "dev-twoc2p-merchant-rsa.pem"
    first = twoc2p_keys.dev_private_pem(path)
    assert twoc2p_keys.dev_private_pem(path) == first
    assert path.stat().st_mode & 0o777 == 0o600
    maint.private_key(first)  # a usable RSA key
    assert "BEGIN PUBLIC KEY" in twoc2p_keys.public_pem_of(first)
