"""LINE Pay Online API v3 request signing, and JSON that keeps 19-digit transaction ids exact.

Signing (developers-pay.line.me/online/pre-requisites):
`X-LINE-Authorization = Base64(HMAC-SHA256(key=channelSecret,
msg=channelSecret + apiPath + (requestBody | queryString) + nonce))`, where POST signs the exact
body bytes sent and GET signs the query string without the leading `?`. The nonce (UUID v1/v4
or a timestamp) goes in `X-LINE-Authorization-Nonce`.

Transaction ids: LINE Pay's `transactionId` is a 19-digit integer, beyond the 2**53 a double
holds exactly (LINE's docs ship a `handleBigInteger()` helper for JavaScript for this reason).
Python's `json` parses integers as exact `int`, but any float detour (a JavaScript client, an
`int(float(x))`, a `1.0e18` literal) corrupts them. `loads`/`dumps` go through `exactjson`
(no floats either way), and `transaction_id` accepts only an exact integer or a digit string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Any

from commerce.payment_wire import exactjson
from commerce.payment_wire.wire_errors import WireFormatError

HEADER_CHANNEL_ID = "X-LINE-ChannelId"
HEADER_NONCE = "X-LINE-Authorization-Nonce"
HEADER_SIGNATURE = "X-LINE-Authorization"


def signature(channel_secret: str, api_path: str, body_or_query: str, nonce: str) -> str:
    """Base64 HMAC-SHA256 of `secret + path + body_or_query + nonce`, keyed by the secret."""
    if not api_path.startswith("/"):
        raise ValueError("api_path is the URL path, e.g. /v3/payments/request")
    if body_or_query.startswith("?"):
        raise ValueError("sign the query string without its leading '?'")
    message = f"{channel_secret}{api_path}{body_or_query}{nonce}".encode()
    mac = hmac.new(channel_secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def auth_headers(
    channel_id: str,
    channel_secret: str,
    api_path: str,
    body_or_query: str = "",
    nonce: str | None = None,
) -> dict[str, str]:
    """The three authentication headers for one request. A fresh UUID4 nonce unless given."""
    nonce = nonce or str(uuid.uuid4())
    return {
        HEADER_CHANNEL_ID: channel_id,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: signature(channel_secret, api_path, body_or_query, nonce),
    }


def verify_signature(
    channel_secret: str, api_path: str, body_or_query: str, nonce: str, received: str
) -> bool:
    """Constant-time check of a signature computed the same way (useful for fakes and tests)."""
    if not received.isascii():
        return False
    expected = signature(channel_secret, api_path, body_or_query, nonce)
    return hmac.compare_digest(expected.encode("ascii"), received.encode("ascii"))


def loads(raw: str | bytes) -> Any:
    """Parse a LINE Pay response: integers stay exact `int`, fractions become `Decimal`."""
    return exactjson.loads(raw)


def dumps(payload: Any) -> str:
    """Serialize a request body once, compactly; sign and send exactly this string."""
    return exactjson.dumps(payload)


def transaction_id(value: object) -> int:
    """Coerce a transactionId from JSON or a callback query (`?transactionId=...`) to an int.

    Accepts an `int` or a string of digits; refuses floats, Decimals and anything that is not
    1..19 digits, because a rounded id would confirm or refund someone else's payment.
    """
    if isinstance(value, bool):
        raise WireFormatError("transactionId must be an integer")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise WireFormatError(f"transactionId must be int or digits, got {type(value).__name__}")
    if not (text.isascii() and text.isdigit()) or not 1 <= len(text) <= 19:
        raise WireFormatError("transactionId must be 1 to 19 decimal digits")
    return int(text)
