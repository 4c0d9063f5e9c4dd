"""NewebPay MPG TradeInfo/TradeSha: the manual's example, openssl as an oracle, and rejections."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from commerce.payment_wire.newebpay_crypto import (
    decrypt,
    encrypt,
    open_notification,
    seal,
    trade_sha,
    verify_trade_sha,
)
from commerce.payment_wire.phpurl import php_build_query
from commerce.payment_wire.wire_errors import SignatureMismatch, WireFormatError

# Source: NewebPay "Newebpay_MPG串接手冊_MPG_1.1.1", pp. 65-66 (AES example), as reproduced in
# the README.md of onlinemad/node-newebpay (npm node-newebpay) and in
# JohnnyWorks-TW/go-newebpay-sdk newebpay/mpgCypherUtils_test.go.
KEY = "12345678901234567890123456789012"
IV = "1234567890123456"
PARAMS = [
    ("MerchantID", "3430112"),
    ("RespondType", "JSON"),
    ("TimeStamp", "1485232229"),
    ("Version", "1.4"),
    ("MerchantOrderNo", "S_1485232229"),
    ("Amt", "40"),
    ("ItemDesc", "UnitTest"),
]
PLAINTEXT = (
    "MerchantID=3430112&RespondType=JSON&TimeStamp=1485232229&Version=1.4"
    "&MerchantOrderNo=S_1485232229&Amt=40&ItemDesc=UnitTest"
)
TRADE_INFO = (
    "ff91c8aa01379e4de621a44e5f11f72e4d25bdb1a18242db6cef9ef07d80b0165e476fd1d9acaa53170272c8"
    "2d122961e1a0700a7427cfa1cf90db7f6d6593bbc93102a4d4b9b66d9974c13c31a7ab4bba1d4e0790f0cbbb"
    "d7ad64c6d3c8012a601ceaa808bff70f94a8efa5a4f984b9d41304ffd879612177c622f75f4214fa"
)
TRADE_SHA = "EA0A6CC37F40C1EA5692E7CBB8AE097653DF3E91365E6A9CD7E91312413C7BB8"
# Same README, `PostData()` example: a 16-byte plaintext gets a whole extra padding block.
POSTDATA_PLAIN = "abcdefghijklmnop"
POSTDATA_HEX = "b91d3ece42c203729b38ae004e96efb9b64c41eeb074cad7ebafa3973181d233"


def test_query_string_matches_manual() -> None:
    assert php_build_query(PARAMS) == PLAINTEXT


def test_manual_example_encrypts_to_published_trade_info() -> None:
    assert encrypt(PLAINTEXT, KEY, IV) == TRADE_INFO


def test_manual_example_trade_sha() -> None:
    assert trade_sha(TRADE_INFO, KEY, IV) == TRADE_SHA


def test_seal_builds_both_fields() -> None:
    sealed = seal(PARAMS, KEY, IV)
    assert (sealed.trade_info, sealed.trade_sha) == (TRADE_INFO, TRADE_SHA)
    assert seal(dict(PARAMS), KEY, IV) == sealed  # dicts keep insertion order


def test_full_block_plaintext_gets_a_padding_block() -> None:
    assert encrypt(POSTDATA_PLAIN, KEY, IV) == POSTDATA_HEX
    assert decrypt(POSTDATA_HEX, KEY, IV) == POSTDATA_PLAIN


def test_open_notification_verifies_then_decrypts() -> None:
    assert open_notification(TRADE_INFO, TRADE_SHA, KEY, IV) == PLAINTEXT
    assert open_notification(TRADE_INFO, TRADE_SHA.lower(), KEY, IV) == PLAINTEXT


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI")


def _openssl(*args: str, data: bytes) -> bytes:
    # Independent oracle: OpenSSL's own AES-256-CBC with PKCS#7 (its default padding).
    return subprocess.run(
        [
            "openssl",
            "enc",
            "-aes-256-cbc",
            *args,
            "-K",
            KEY.encode().hex(),
            "-iv",
            IV.encode().hex(),
        ],
        input=data,
        capture_output=True,
        check=True,
    ).stdout


@needs_openssl
@pytest.mark.parametrize(
    "plaintext",
    [
        PLAINTEXT,
        "",
        "x" * 15,
        "x" * 32,
        "ItemDesc=%E6%B8%AC%E8%A9%A6&Amt=1999&Email=a%2Bb%40example.com",
        "JSON 原文 with non-ASCII: 交易成功",
    ],
)
def test_encrypt_agrees_with_openssl(plaintext: str) -> None:
    expected = _openssl(data=plaintext.encode()).hex()
    ours = encrypt(plaintext, KEY, IV)
    assert ours == expected
    assert _openssl("-d", data=bytes.fromhex(ours)).decode() == plaintext
    if plaintext:
        assert decrypt(expected, KEY, IV) == plaintext


def test_tampered_trade_sha_is_rejected_before_decrypting() -> None:
    bad = TRADE_SHA[:-1] + ("0" if TRADE_SHA[-1] != "0" else "1")
    with pytest.raises(SignatureMismatch):
        open_notification(TRADE_INFO, bad, KEY, IV)


def test_tampered_trade_info_is_rejected() -> None:
    flipped = TRADE_INFO[:10] + ("0" if TRADE_INFO[10] != "0" else "1") + TRADE_INFO[11:]
    assert not verify_trade_sha(flipped, TRADE_SHA, KEY, IV)
    with pytest.raises(SignatureMismatch):
        open_notification(flipped, TRADE_SHA, KEY, IV)


def test_wrong_key_is_rejected() -> None:
    with pytest.raises(SignatureMismatch):
        open_notification(TRADE_INFO, TRADE_SHA, "0" * 32, IV)


def _raw_aes(block: bytes) -> str:
    encryptor = Cipher(algorithms.AES(KEY.encode()), modes.CBC(IV.encode())).encryptor()
    return (encryptor.update(block) + encryptor.finalize()).hex()


@pytest.mark.parametrize(
    "last_block",
    [
        b"A" * 15 + b"\x00",  # pad byte 0
        b"A" * 15 + b"\x11",  # pad length 17 > block size
        b"A" * 13 + b"\x02\x03\x03",  # inconsistent pad bytes
    ],
)
def test_bad_padding_is_rejected_even_with_a_valid_mac(last_block: bytes) -> None:
    forged = _raw_aes(last_block)
    with pytest.raises(WireFormatError) as info:
        open_notification(forged, trade_sha(forged, KEY, IV), KEY, IV)
    assert not isinstance(info.value, SignatureMismatch)


@pytest.mark.parametrize("text", ["", "zz", TRADE_INFO[:-1], TRADE_INFO[:-2], "00" * 15])
def test_malformed_ciphertext_is_rejected(text: str) -> None:
    with pytest.raises(WireFormatError):
        decrypt(text, KEY, IV)


def test_invalid_utf8_plaintext_is_rejected() -> None:
    forged = _raw_aes(b"\xff" * 15 + b"\x01")
    with pytest.raises(WireFormatError):
        decrypt(forged, KEY, IV)


@pytest.mark.parametrize(("key", "iv"), [(KEY[:-1], IV), (KEY, IV + "0"), ("", "")])
def test_wrong_key_or_iv_length_is_a_configuration_error(key: str, iv: str) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        encrypt(PLAINTEXT, key, iv)
