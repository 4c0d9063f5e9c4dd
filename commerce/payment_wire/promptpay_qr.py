"""PromptPay QR: the EMVCo merchant-presented payload (Thai QR Payment "tag 29") and its PNG.

Layout, matching dtinth/promptpay-qr (the de-facto reference; its tests are our known answers):

    00 "01"                      payload format indicator
    01 "11" static | "12" dynamic  (dynamic = carries an amount, meant for one payment)
    29 { 00 "A000000677010111"   PromptPay AID
         01 phone  "0066" + 9 digits (leading 0 dropped), left-padded with 0 to 13
       | 02 national / tax id, 13 digits
       | 03 e-wallet id, 15 digits }
    58 "TH"   53 "764" (THB)   [54 amount, 2 decimals]
    63 CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection) over everything up to and
       including "6304", as 4 upper-case hex digits.

Every field is `id + 2-digit length + value`. A self-made PromptPay QR pays straight into a
bank account with no notification, so it is for display; confirmation goes through Omise/2C2P.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from commerce.payment_wire.wire_errors import WireFormatError
from shared import qr

PROMPTPAY_AID = "A000000677010111"
CURRENCY_THB = "764"
COUNTRY_TH = "TH"
_MAX_AMOUNT_LEN = 13  # EMVCo: tag 54 is at most 13 characters


class ProxyType(StrEnum):
    """Sub-tag of tag 29 naming what the target number is."""

    MOBILE = "01"
    NATIONAL_ID = "02"  # also juristic (tax) ids: both are 13 digits
    EWALLET = "03"


def crc16_ccitt(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (a.k.a. CRC-16/IBM-3740): check value for b"123456789" is 0x29B1."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _field(tag: str, value: str) -> str:
    if len(value) > 99:
        raise ValueError(f"EMV field {tag} is longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


def _digits(target: str) -> str:
    return "".join(ch for ch in target if ch.isascii() and ch.isdigit())


def classify(target: str) -> tuple[ProxyType, str]:
    """Pick the proxy type from the digit count and format the value, as promptpay-qr does.

    15+ digits: e-wallet; 13-14: national/tax id; fewer: a phone number, where a leading 0
    becomes the country code 66 and the result is left-padded with zeros to 13 digits.
    """
    digits = _digits(target)
    if not digits:
        raise ValueError("PromptPay target has no digits")
    if len(digits) >= 15:
        return ProxyType.EWALLET, digits
    if len(digits) >= 13:
        return ProxyType.NATIONAL_ID, digits
    phone = "66" + digits[1:] if digits.startswith("0") else digits
    return ProxyType.MOBILE, phone.rjust(13, "0")


def format_amount(amount: Decimal) -> str:
    """THB with exactly two decimals. Refuses floats, sub-satang fractions, and amounts <= 0."""
    if not isinstance(amount, Decimal):
        raise TypeError("amount must be a Decimal (baht), never a float")
    if not amount.is_finite() or amount <= 0:
        raise ValueError("amount must be a positive, finite number of baht")
    quantized = amount.quantize(Decimal("0.01"))
    if quantized != amount:
        raise ValueError("amount has more precision than one satang")
    text = f"{quantized:.2f}"
    if len(text) > _MAX_AMOUNT_LEN:
        raise ValueError("amount is too large for EMV tag 54")
    return text


def payload(target: str, *, amount: Decimal | None = None) -> str:
    """Build the QR text for a phone number, national/tax id or e-wallet id.

    With `amount` the QR is dynamic (POI method "12") and the payer's app fills in the amount.
    """
    proxy_type, value = classify(target)
    merchant = _field("00", PROMPTPAY_AID) + _field(proxy_type.value, value)
    data = (
        _field("00", "01")
        + _field("01", "11" if amount is None else "12")
        + _field("29", merchant)
        + _field("58", COUNTRY_TH)
        + _field("53", CURRENCY_THB)
        + ("" if amount is None else _field("54", format_amount(amount)))
        + "6304"
    )
    return data + f"{crc16_ccitt(data.encode('ascii')):04X}"


def parse_fields(text: str) -> list[tuple[str, str]]:
    """Split EMV TLV text into (tag, value) pairs, checking lengths; no semantic checks."""
    fields: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        tag, length = text[pos : pos + 2], text[pos + 2 : pos + 4]
        if len(tag) < 2 or not length.isdigit() or len(length) < 2:
            raise WireFormatError(f"truncated EMV field at offset {pos}")
        end = pos + 4 + int(length)
        if end > len(text):
            raise WireFormatError(f"EMV field {tag} runs past the end")
        fields.append((tag, text[pos + 4 : end]))
        pos = end
    return fields


def verify_crc(text: str) -> bool:
    """True if `text` ends in a tag-63 CRC that matches the bytes before it."""
    if len(text) < 8 or text[-8:-4] != "6304" or not text.isascii():
        return False
    expected = f"{crc16_ccitt(text[:-4].encode('ascii')):04X}"
    return text[-4:].upper() == expected


def render_png(text: str, *, box_size: int = 10, border: int = 4) -> bytes:
    """Render `text` as a PNG QR code, error correction M (`shared.qr`).

    The payload uses only digits, upper-case letters and `.`, so qrcode packs it in
    alphanumeric mode and the symbol stays small enough to scan off a phone screen.
    """
    return qr.render_png(text, box_size=box_size, border=border)
