"""2C2P PGW HS256 JWTs: the docs' JT01 example, round trips, and every rejection we rely on."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jws

from commerce.payment_wire.twoc2p_jwt import (
    UnsignedReply,
    decode,
    encode,
    parse_response,
    request_body,
    verify_notification,
)
from commerce.payment_wire.wire_errors import SignatureMismatch, WireFormatError

# Source: 2C2P developer docs, "JSON Web Tokens (JWT)" > Generate JWT,
# https://developer.2c2p.com/docs/json-web-tokens-jwt (merchant JT01, published SHA key,
# payload, and the sample output token below). JavaScript printed 1000.00 as 1000.
DOC_KEY = "1F4EDB965BBB3094F791A83750FBDCDA3852131CB5218E21E4F42929A1975E60"
DOC_CLAIMS = {
    "merchantID": "JT01",
    "invoiceNo": "1523953661",
    "description": "item 1",
    "amount": 1000,
    "currencyCode": "SGD",
}
DOC_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJtZXJjaGFudElEIjoiSlQwMSIsImludm9pY2VObyI6IjE1Mj"
    "M5NTM2NjEiLCJkZXNjcmlwdGlvbiI6Iml0ZW0gMSIsImFtb3VudCI6MTAwMCwiY3VycmVuY3lDb2RlIjoiU0dEIn0"
    ".ElmhOULUdK63FnriSs2XyhH1LxULoTVIopTUuQ77DvA"
)
# Source: https://developer.2c2p.com/docs/api-payment-response-backend, sample backend
# notification for merchant JT04. Its key is not published, so we can only show that a genuine
# 2C2P token signed for another merchant does not verify with ours.
DOC_BACKEND_NOTIFICATION = {
    "payload": (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJtZXJjaGFudElEIjoiSlQwNCIsImludm9pY2VObyI6IjI4"
        "MDUyMDA3NTkyMSIsImNhcmRObyI6IjQxMTExMVhYWFhYWDExMTEiLCJhbW91bnQiOiIyMzAuODciLCJjdXJyZW5"
        "jeUNvZGUiOiJUSEIiLCJ0cmFuUmVmIjoiMjg2ODgyMSIsInJlZmVyZW5jZU5vIjoiMjc4NTcwMyIsImFwcHJvdm"
        "FsQ29kZSI6IjUzMTQ4NCIsImVjaSI6IjA1IiwidHJhbnNhY3Rpb25EYXRlVGltZSI6IjIwMjAwNTI4MDgwNTA4I"
        "iwicmVzcENvZGUiOiIwMDAwIiwicmVzcERlc2MiOiJTdWNjZXNzIn0.QdjSI_dUbiRularwEIFuYROE_svc3Xkm"
        "-t58X-VnPxI"
    )
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_docs_example_encodes_byte_for_byte() -> None:
    assert encode(DOC_CLAIMS, DOC_KEY) == DOC_TOKEN
    assert encode({**DOC_CLAIMS, "amount": Decimal("1000")}, DOC_KEY) == DOC_TOKEN


def test_docs_example_decodes_to_docs_claims() -> None:
    assert decode(DOC_TOKEN, DOC_KEY) == DOC_CLAIMS


def test_request_body_wraps_the_token() -> None:
    assert json.loads(request_body(DOC_CLAIMS, DOC_KEY)) == {"payload": DOC_TOKEN}


def test_decimal_amounts_round_trip_without_float() -> None:
    claims = {"merchantID": "JT01", "amount": Decimal("230.87"), "invoiceNo": "A1"}
    decoded = decode(encode(claims, DOC_KEY), DOC_KEY)
    assert decoded == claims
    assert isinstance(decoded["amount"], Decimal)


def test_parse_response_signed_and_unsigned() -> None:
    assert parse_response(json.dumps({"payload": DOC_TOKEN}), DOC_KEY) == DOC_CLAIMS
    assert parse_response({"payload": DOC_TOKEN}, DOC_KEY) == DOC_CLAIMS
    reply = parse_response(b'{"respCode":"9042","respDesc":"Invalid JWT"}', DOC_KEY)
    assert reply == UnsignedReply("9042", "Invalid JWT")
    with pytest.raises(WireFormatError):
        parse_response(b'{"hello":"world"}', DOC_KEY)


def test_notification_round_trip() -> None:
    body = request_body({"merchantID": "JT01", "invoiceNo": "1", "respCode": "0000"}, DOC_KEY)
    assert verify_notification(body, DOC_KEY)["respCode"] == "0000"


def test_genuine_token_for_another_merchant_is_rejected() -> None:
    with pytest.raises(SignatureMismatch):
        verify_notification(DOC_BACKEND_NOTIFICATION, DOC_KEY)


def test_notification_without_jwt_is_rejected() -> None:
    with pytest.raises(SignatureMismatch):
        verify_notification({"respCode": "0000", "respDesc": "Success"}, DOC_KEY)
    with pytest.raises(WireFormatError):
        verify_notification(b"not json", DOC_KEY)


def test_tampered_claims_are_rejected() -> None:
    header, _claims, sig = DOC_TOKEN.split(".")
    forged = _b64(json.dumps({**DOC_CLAIMS, "amount": 1}, separators=(",", ":")).encode())
    with pytest.raises(SignatureMismatch):
        decode(f"{header}.{forged}.{sig}", DOC_KEY)


def test_wrong_key_is_rejected() -> None:
    with pytest.raises(SignatureMismatch):
        decode(DOC_TOKEN, DOC_KEY.lower())


def test_alg_none_is_rejected() -> None:
    header = _b64(b'{"alg":"none","typ":"JWT"}')
    claims = DOC_TOKEN.split(".")[1]
    for token in (f"{header}.{claims}.", f"{header}.{claims}"):
        with pytest.raises(SignatureMismatch):
            decode(token, DOC_KEY)


def test_rs256_token_is_rejected() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    token = jws.sign(DOC_CLAIMS, pem, algorithm="RS256")
    with pytest.raises(SignatureMismatch):
        decode(token, DOC_KEY)


def test_other_hmac_algorithms_are_rejected() -> None:
    token = jws.sign(DOC_CLAIMS, DOC_KEY, algorithm="HS512")
    with pytest.raises(SignatureMismatch):
        decode(token, DOC_KEY)


def test_garbage_is_rejected() -> None:
    for token in ("", "abc", "a.b.c", DOC_TOKEN + "x"):
        with pytest.raises(SignatureMismatch):
            decode(token, DOC_KEY)


def test_non_object_claims_are_rejected() -> None:
    token = jws.sign(b"[1,2,3]", DOC_KEY, algorithm="HS256")
    with pytest.raises(WireFormatError):
        decode(token, DOC_KEY)


def test_empty_or_asymmetric_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        encode(DOC_CLAIMS, "")
    pem = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"
    with pytest.raises(ValueError, match="asymmetric"):
        encode(DOC_CLAIMS, pem)
    with pytest.raises(ValueError, match="asymmetric"):
        decode(DOC_TOKEN, pem)
