"""PromptPay QR payloads against dtinth/promptpay-qr's own test vectors, CRC and PNG checks."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

from commerce.payment_wire.promptpay_qr import (
    ProxyType,
    classify,
    crc16_ccitt,
    format_amount,
    parse_fields,
    payload,
    render_png,
    verify_crc,
)
from commerce.payment_wire.wire_errors import WireFormatError

# Source: dtinth/promptpay-qr, index.test.js (commit 904f90d5...), every case in that file.
DTINTH_CASES = [
    (
        "0801234567",
        None,
        "00020101021129370016A000000677010111011300668012345675802TH530376463046197",
    ),
    (
        "080-123-4567",
        None,
        "00020101021129370016A000000677010111011300668012345675802TH530376463046197",
    ),
    (
        "+66-89-123-4567",
        None,
        "00020101021129370016A000000677010111011300668912345675802TH5303764630429C1",
    ),
    (
        "1111111111111",
        None,
        "00020101021129370016A000000677010111021311111111111115802TH530376463047B5A",
    ),
    (
        "1-1111-11111-11-1",
        None,
        "00020101021129370016A000000677010111021311111111111115802TH530376463047B5A",
    ),
    (
        "0123456789012",
        None,
        "00020101021129370016A000000677010111021301234567890125802TH530376463040CBD",
    ),
    (
        "012345678901234",
        None,
        "00020101021129390016A00000067701011103150123456789012345802TH530376463049781",
    ),
    (
        "000-000-0000",
        Decimal("4.22"),
        "00020101021229370016A000000677010111011300660000000005802TH530376454044.226304E469",
    ),
]


@pytest.mark.parametrize(("target", "amount", "expected"), DTINTH_CASES)
def test_dtinth_vectors(target: str, amount: Decimal | None, expected: str) -> None:
    assert payload(target, amount=amount) == expected


def test_crc_catalogue_check_value() -> None:
    # CRC-16/IBM-3740 (a.k.a. CCITT-FALSE) in Greg Cook's CRC catalogue (reveng): check=0x29B1.
    assert crc16_ccitt(b"123456789") == 0x29B1


@pytest.mark.parametrize(("target", "amount", "expected"), DTINTH_CASES)
def test_crc_verifies_and_detects_tampering(
    target: str, amount: Decimal | None, expected: str
) -> None:
    assert verify_crc(expected)
    # Change one digit of the proxy value (offset 40 sits inside tag 29's value).
    tampered = expected[:40] + ("1" if expected[40] != "1" else "2") + expected[41:]
    assert not verify_crc(tampered)


def test_verify_crc_rejects_missing_tag() -> None:
    assert not verify_crc("")
    assert not verify_crc("000201")


def test_fields_parse_back() -> None:
    fields = dict(parse_fields(DTINTH_CASES[-1][2]))
    assert fields["00"] == "01"
    assert fields["01"] == "12"
    assert fields["53"] == "764"
    assert fields["54"] == "4.22"
    assert fields["58"] == "TH"
    merchant = dict(parse_fields(fields["29"]))
    assert merchant == {"00": "A000000677010111", "01": "0066000000000"}


@pytest.mark.parametrize("broken", ["00", "0002", "000201010", "0003AB"])
def test_parse_rejects_truncated(broken: str) -> None:
    with pytest.raises(WireFormatError):
        parse_fields(broken)


@pytest.mark.parametrize(
    ("target", "kind", "value"),
    [
        ("0812345678", ProxyType.MOBILE, "0066812345678"),
        ("3-1005-00123-45-6", ProxyType.NATIONAL_ID, "3100500123456"),
        ("004999000288505", ProxyType.EWALLET, "004999000288505"),
    ],
)
def test_classify(target: str, kind: ProxyType, value: str) -> None:
    assert classify(target) == (kind, value)


def test_phone_0812345678_static_and_dynamic_differ_only_in_method_and_amount() -> None:
    static = payload("0812345678")
    dynamic = payload("0812345678", amount=Decimal("100"))
    # promptpay-qr's output for this number, repeated verbatim in many public test suites.
    assert static == "00020101021129370016A000000677010111011300668123456785802TH530376463045D82"
    assert static.startswith("000201010211")
    assert dynamic.startswith("000201010212")
    assert "5406100.00" in dynamic and "54" not in dict(parse_fields(static))
    assert verify_crc(static) and verify_crc(dynamic)


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("4.22"), "4.22"),
        (Decimal("100"), "100.00"),
        (Decimal("0.01"), "0.01"),
        (Decimal("1.50"), "1.50"),
    ],
)
def test_format_amount(amount: Decimal, text: str) -> None:
    assert format_amount(amount) == text


@pytest.mark.parametrize(
    "amount",
    [Decimal("0"), Decimal("-1"), Decimal("1.005"), Decimal("NaN"), Decimal("1e13")],
)
def test_format_amount_rejects(amount: Decimal) -> None:
    with pytest.raises(ValueError):
        format_amount(amount)


def test_float_amount_is_refused() -> None:
    with pytest.raises(TypeError):
        payload("0812345678", amount=4.22)  # type: ignore[arg-type]


def test_target_without_digits_is_refused() -> None:
    with pytest.raises(ValueError):
        payload("not a number")


def test_png_encodes_the_payload() -> None:
    text = payload("0812345678", amount=Decimal("4.22"))
    box, border = 4, 4
    png = render_png(text, box_size=box, border=border)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # Rebuild the module matrix for the same text and compare it with the image's pixels:
    # the PNG must be exactly that symbol (quiet zone included), not merely "a PNG".
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=border)
    qr.add_data(text)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.size == (len(matrix) * box, len(matrix) * box)
    for row, cells in enumerate(matrix):
        for col, dark in enumerate(cells):
            pixel = image.getpixel((col * box + box // 2, row * box + box // 2))
            assert isinstance(pixel, int)
            assert (pixel < 128) == dark, (row, col)
