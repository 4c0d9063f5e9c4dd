"""2C2P PGW v4.x: HS256 JWTs around payment-token requests, responses and backend notifications.

2C2P (developer.2c2p.com/docs/json-web-tokens-jwt) has no Authorization header: the request
body is `{"payload": <JWT>}`, where the JWT is the request JSON signed HS256 with the
merchant's "SHA key" (its UTF-8 text, not hex-decoded). Replies and the server-to-server
payment notification (docs/api-payment-response-backend) come back the same way, signed with
the same key.

Rules we hold to:
- verification accepts exactly `HS256` (`none`, RS*/ES*/PS* and HS384/512 are refused), with
  the key wrapped as a python-jose HMAC key so a JSON- or PEM-looking secret can never be
  reinterpreted as a key set or an asymmetric key;
- claims are serialized by `exactjson` (no floats; `Decimal` amounts written from their
  digits) and parsed back with integers exact and fractions as `Decimal`;
- a reply without `payload` (2C2P answers some failures with a bare `{"respCode", "respDesc"}`)
  is unauthenticated, so it is surfaced as `UnsignedReply` and can only ever mean failure.
- 2C2P's claims carry no `exp`/`iat`; replay protection is the caller's job (idempotent
  handling keyed on invoiceNo/tranRef), not this module's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jose import jwk, jws
from jose.backends.base import Key
from jose.exceptions import JOSEError

from commerce.payment_wire import exactjson
from commerce.payment_wire.wire_errors import SignatureMismatch, WireFormatError

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class UnsignedReply:
    """A 2C2P reply that carried no JWT. Nothing in it is authenticated: treat as failure."""

    resp_code: str
    resp_desc: str


def _key(secret_key: str) -> Key:
    """Wrap the secret as an HS256 key; a bad secret is a configuration error, not a bad MAC."""
    if not secret_key:
        raise ValueError("2C2P secret key is empty")
    try:
        return jwk.construct(secret_key, ALGORITHM)
    except JOSEError as exc:  # e.g. a PEM public key pasted where the SHA key belongs
        raise ValueError(f"unusable 2C2P secret key: {exc}") from exc


def encode(claims: Mapping[str, Any], secret_key: str) -> str:
    """Sign `claims` (in the given key order) as a compact HS256 JWT."""
    body = exactjson.dumps(claims).encode("utf-8")
    token = jws.sign(body, _key(secret_key), algorithm=ALGORITHM)
    return token if isinstance(token, str) else token.decode("ascii")


def request_body(claims: Mapping[str, Any], secret_key: str) -> str:
    """The exact JSON body to POST to e.g. `/payment/4.3/paymentToken`."""
    return exactjson.dumps({"payload": encode(claims, secret_key)})


def decode(token: str, secret_key: str) -> dict[str, Any]:
    """Verify an HS256 JWT from 2C2P and return its claims; raise `SignatureMismatch` if not."""
    key = _key(secret_key)
    try:
        raw = jws.verify(token, key, algorithms=[ALGORITHM])
    except JOSEError as exc:
        raise SignatureMismatch(f"2C2P JWT rejected: {exc}") from exc
    claims = exactjson.loads(raw)
    if not isinstance(claims, dict):
        raise WireFormatError("2C2P JWT claims are not a JSON object")
    return claims


def _envelope(body: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    parsed = body if isinstance(body, Mapping) else exactjson.loads(body)
    if not isinstance(parsed, Mapping):
        raise WireFormatError("2C2P body is not a JSON object")
    return parsed


def parse_response(
    body: str | bytes | Mapping[str, Any], secret_key: str
) -> dict[str, Any] | UnsignedReply:
    """Decode an API reply: verified claims, or `UnsignedReply` for a bare error object."""
    envelope = _envelope(body)
    token = envelope.get("payload")
    if isinstance(token, str):
        return decode(token, secret_key)
    if "respCode" in envelope:
        return UnsignedReply(str(envelope["respCode"]), str(envelope.get("respDesc", "")))
    raise WireFormatError("2C2P reply has neither payload nor respCode")


def verify_notification(body: str | bytes | Mapping[str, Any], secret_key: str) -> dict[str, Any]:
    """Verify a backend (server-to-server) payment notification and return its claims.

    Unlike `parse_response`, an unsigned body is never acceptable here: anyone can POST to the
    notification URL, so a missing or bad `payload` raises.
    """
    token = _envelope(body).get("payload")
    if not isinstance(token, str):
        raise SignatureMismatch("2C2P notification has no JWT payload")
    return decode(token, secret_key)
