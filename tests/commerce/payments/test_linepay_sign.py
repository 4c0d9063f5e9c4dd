"""LINE Pay v3 request signing and exact 19-digit transaction ids."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from decimal import Decimal

import pytest

from commerce.payment_wire.linepay_sign import (
    HEADER_CHANNEL_ID,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    auth_headers,
    dumps,
    loads,
    signature,
    transaction_id,
    verify_signature,
)
from commerce.payment_wire.wire_errors import WireFormatError

# Source: sumihiro3/line-pay-sdk-python, tests/test_api.py::test_sign (secret "fuga",
# POST /v3/payments/request, fixed nonce and body below, expected X-LINE-Authorization).
SDK_SECRET = "fuga"
SDK_PATH = "/v3/payments/request"
SDK_BODY = (
    '{"amount": 1, "currency": "JPY", "orderId": "5383b36e-fe10-4767-b11b-81eefd1752fa", '
    '"packages": [{"id": "package-999", "amount": 1, "name": "Sample package", "products": '
    '[{"id": "product-001", "name": "Sample product", "quantity": 1, "price": 1}]}], '
    '"redirectUrls": {"confirmUrl": "https://example.com/pay/confirm", "cancelUrl": '
    '"https://example.com/pay/cancel"}}'
)
SDK_NONCE = "021a6bb9-ed18-4562-b9bd-ad07a27532f6"
SDK_SIGNATURE = "Rz5VEwPHChlQgN+dEmYWWbtWKw0XS41MblRB/dRdygE="

# LINE Pay's API reference response examples use this 19-digit id (> 2**53).
DOC_TRANSACTION_ID = 2018123112345678910


def test_sdk_known_answer() -> None:
    assert signature(SDK_SECRET, SDK_PATH, SDK_BODY, SDK_NONCE) == SDK_SIGNATURE


def test_auth_headers_with_fixed_nonce() -> None:
    headers = auth_headers("hoge", SDK_SECRET, SDK_PATH, SDK_BODY, nonce=SDK_NONCE)
    assert headers == {
        HEADER_CHANNEL_ID: "hoge",
        HEADER_NONCE: SDK_NONCE,
        HEADER_SIGNATURE: SDK_SIGNATURE,
    }


def test_default_nonce_is_a_fresh_uuid4() -> None:
    first = auth_headers("1", "s", "/v3/payments")[HEADER_NONCE]
    second = auth_headers("1", "s", "/v3/payments")[HEADER_NONCE]
    assert first != second
    assert uuid.UUID(first).version == 4


def test_get_signs_query_string_without_question_mark() -> None:
    # developers-pay.line.me/online/pre-requisites: GET signs secret + apiPath + queryString
    # + nonce. Checked here against a direct HMAC of that concatenation.
    query = "orderId=A-1&transactionId=2018123112345678910"
    message = f"s3cret/v3/payments{query}n-1".encode()
    expected = base64.b64encode(hmac.new(b"s3cret", message, hashlib.sha256).digest()).decode()
    assert signature("s3cret", "/v3/payments", query, "n-1") == expected
    with pytest.raises(ValueError, match="'\\?'"):
        signature("s3cret", "/v3/payments", "?" + query, "n-1")


def test_path_must_be_a_path() -> None:
    with pytest.raises(ValueError, match="path"):
        signature("s", "https://sandbox-api-pay.line.me/v3/payments", "", "n")


def test_verify_rejects_tampering() -> None:
    assert verify_signature(SDK_SECRET, SDK_PATH, SDK_BODY, SDK_NONCE, SDK_SIGNATURE)
    tampered = SDK_BODY.replace('"amount": 1,', '"amount": 2,', 1)
    assert not verify_signature(SDK_SECRET, SDK_PATH, tampered, SDK_NONCE, SDK_SIGNATURE)
    assert not verify_signature(SDK_SECRET, SDK_PATH, SDK_BODY, "other", SDK_SIGNATURE)
    assert not verify_signature("fugb", SDK_PATH, SDK_BODY, SDK_NONCE, SDK_SIGNATURE)
    assert not verify_signature(SDK_SECRET, SDK_PATH, SDK_BODY, SDK_NONCE, "é")


def test_response_transaction_id_stays_exact() -> None:
    raw = b'{"returnCode":"0000","info":{"transactionId":2018123112345678910,"amount":12.50}}'
    parsed = loads(raw)
    assert parsed["info"]["transactionId"] == DOC_TRANSACTION_ID
    assert type(parsed["info"]["transactionId"]) is int
    assert parsed["info"]["amount"] == Decimal("12.50")
    # The hazard we avoid: the same id through a double lands on a different integer.
    assert int(float(DOC_TRANSACTION_ID)) != DOC_TRANSACTION_ID


def test_request_body_writes_ids_and_amounts_digit_for_digit() -> None:
    body = dumps(
        {
            "transactionId": DOC_TRANSACTION_ID,
            "amount": Decimal("12.50"),
            "currency": "THB",
            "name": "ตุ๊กตา",
        }
    )
    assert body == (
        '{"transactionId":2018123112345678910,"amount":12.50,"currency":"THB","name":"ตุ๊กตา"}'
    )
    assert loads(body)["transactionId"] == DOC_TRANSACTION_ID


def test_request_body_refuses_floats() -> None:
    with pytest.raises(TypeError, match="float"):
        dumps({"amount": 12.5})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (DOC_TRANSACTION_ID, DOC_TRANSACTION_ID),
        ("2018123112345678910", DOC_TRANSACTION_ID),
        (" 2018123112345678910 ", DOC_TRANSACTION_ID),
        (1, 1),
    ],
)
def test_transaction_id_accepts_exact_forms(value: object, expected: int) -> None:
    assert transaction_id(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        float(DOC_TRANSACTION_ID),
        Decimal("2018123112345678910"),
        "2.018123112345678910e18",
        "20181231123456789101",  # 20 digits
        "-1",
        "",
        "\uff11\uff12\uff13",  # full-width digits
        True,
        None,
    ],
)
def test_transaction_id_refuses_lossy_or_malformed(value: object) -> None:
    with pytest.raises(WireFormatError):
        transaction_id(value)
