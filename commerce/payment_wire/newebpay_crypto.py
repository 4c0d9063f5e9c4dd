"""NewebPay (藍新) MPG `TradeInfo` / `TradeSha`: encrypt requests, verify and decrypt notifications.

From NewebPay's MPG integration manual (線上交易─幕前支付技術串接手冊, the AES-256-CBC mode,
`EncryptType` absent or 0):

- `TradeInfo` = lower-case hex of AES-256-CBC(key=HashKey, iv=HashIV, PKCS#7) over the
  `http_build_query` of the trade parameters (PHP form encoding, caller's order);
- `TradeSha` = upper-case hex SHA-256 of `HashKey=<key>&<TradeInfo>&HashIV=<iv>`.

Notifications (NotifyURL / ReturnURL) carry the same pair. We check `TradeSha` first, in
constant time, and only then decrypt; a wrong key, truncated hex or broken padding is an error,
never a silently shortened plaintext (NewebPay's own sample `strippadding` also returns false).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from commerce.payment_wire.phpurl import php_build_query
from commerce.payment_wire.wire_errors import SignatureMismatch, WireFormatError

_BLOCK_BITS = 128


@dataclass(frozen=True, slots=True)
class SealedTradeInfo:
    """The two form fields an MPG request posts next to `MerchantID` and `Version`."""

    trade_info: str
    trade_sha: str


def _key_iv(hash_key: str, hash_iv: str) -> tuple[bytes, bytes]:
    key, iv = hash_key.encode("utf-8"), hash_iv.encode("utf-8")
    if len(key) != 32 or len(iv) != 16:
        raise ValueError("NewebPay HashKey must be 32 bytes and HashIV 16 bytes")
    return key, iv


def _cipher(hash_key: str, hash_iv: str) -> Cipher[modes.CBC]:
    key, iv = _key_iv(hash_key, hash_iv)
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def encrypt(plaintext: str, hash_key: str, hash_iv: str) -> str:
    """AES-256-CBC + PKCS#7 over UTF-8 `plaintext`, as lower-case hex."""
    padder = padding.PKCS7(_BLOCK_BITS).padder()
    padded = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    encryptor = _cipher(hash_key, hash_iv).encryptor()
    return (encryptor.update(padded) + encryptor.finalize()).hex()


def decrypt(ciphertext_hex: str, hash_key: str, hash_iv: str) -> str:
    """Inverse of `encrypt`. Raises `WireFormatError` on bad hex, length, padding or UTF-8."""
    try:
        data = binascii.unhexlify(ciphertext_hex.strip())
    except (binascii.Error, ValueError) as exc:
        raise WireFormatError("TradeInfo is not hex") from exc
    if not data or len(data) % (_BLOCK_BITS // 8):
        raise WireFormatError("TradeInfo is not a whole number of AES blocks")
    decryptor = _cipher(hash_key, hash_iv).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(_BLOCK_BITS).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        return plain.decode("utf-8")
    except ValueError as exc:  # bad PKCS#7 padding, or UnicodeDecodeError
        raise WireFormatError("TradeInfo does not decrypt cleanly") from exc


def trade_sha(trade_info: str, hash_key: str, hash_iv: str) -> str:
    """`TradeSha` for an already-encrypted `TradeInfo` hex string."""
    source = f"HashKey={hash_key}&{trade_info}&HashIV={hash_iv}"
    return hashlib.sha256(source.encode("utf-8")).hexdigest().upper()


def seal(
    params: Mapping[str, str] | Iterable[tuple[str, str]],
    hash_key: str,
    hash_iv: str,
) -> SealedTradeInfo:
    """Encode `params` like PHP `http_build_query`, encrypt them, and sign the ciphertext."""
    pairs = params.items() if isinstance(params, Mapping) else params
    trade_info = encrypt(php_build_query(pairs), hash_key, hash_iv)
    return SealedTradeInfo(trade_info, trade_sha(trade_info, hash_key, hash_iv))


def verify_trade_sha(trade_info: str, received_sha: str, hash_key: str, hash_iv: str) -> bool:
    """Constant-time check of a notification's `TradeSha` (hex compared case-insensitively)."""
    if not received_sha.isascii():
        return False
    expected = trade_sha(trade_info, hash_key, hash_iv)
    return hmac.compare_digest(expected.encode("ascii"), received_sha.upper().encode("ascii"))


def open_notification(trade_info: str, received_sha: str, hash_key: str, hash_iv: str) -> str:
    """Verify `TradeSha`, then decrypt `TradeInfo`; returns the plaintext (JSON or query string).

    Raises `SignatureMismatch` before touching the ciphertext if the MAC is wrong, so a forged
    notification never reaches the decryptor.
    """
    if not verify_trade_sha(trade_info, received_sha, hash_key, hash_iv):
        raise SignatureMismatch("NewebPay TradeSha does not match")
    return decrypt(trade_info, hash_key, hash_iv)
