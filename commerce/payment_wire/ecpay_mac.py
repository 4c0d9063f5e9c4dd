"""ECPay CheckMacValue: the MAC on every AIO (payments) and logistics request and notification.

ECPay's rule (developers.ecpay.com.tw/?p=2902, "附錄 / 檢查碼機制"; SDK_PHP
`CheckMacValueService` + `UrlService::ecpayUrlEncode`):

1. drop `CheckMacValue`; keep every other field, *including empty ones* (they count);
2. sort the keys case-insensitively (`strcasecmp`, i.e. ASCII letters folded to lower case);
3. build `HashKey=<key>&k1=v1&...&kn=vn&HashIV=<iv>` from the raw, undecoded values;
4. PHP `urlencode` it, lower-case the whole string, then turn `%21 %2a %28 %29` back into
   `! * ( )` so the result equals .NET's `HttpUtility.UrlEncode` (ECPay's server is .NET);
5. SHA-256 (payments, `EncryptType=1`) or MD5 (logistics, e-invoice notifications), upper hex.

The case-insensitive sort matters: real notifications mix `amount`, `auth_code`, `ATMAccBank`
and `CustomField1`, and an ordinal sort yields a different MAC.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Literal

from commerce.payment_wire.phpurl import php_urlencode

HashMethod = Literal["sha256", "md5"]

FIELD = "CheckMacValue"

# PHP urlencode escapes these; .NET's HttpUtility.UrlEncode does not. `-_.` are listed in
# ECPay's table too, but PHP never escapes them, so only these four need restoring.
_DOTNET_UNESCAPE = (("%21", "!"), ("%2a", "*"), ("%28", "("), ("%29", ")"))


def ecpay_urlencode(text: str) -> str:
    """ECPay's "URLENCODE 轉換表 / .NET 編碼(ecpay)" column: PHP urlencode, lower-cased."""
    encoded = php_urlencode(text).lower()
    for escaped, plain in _DOTNET_UNESCAPE:
        encoded = encoded.replace(escaped, plain)
    return encoded


def _sort_key(name: str) -> bytes:
    # `strcasecmp` folds ASCII letters only and compares bytes; bytes.lower() does exactly that.
    return name.encode("utf-8").lower()


def mac_source(params: Mapping[str, str], hash_key: str, hash_iv: str) -> str:
    """The plain string ECPay hashes, before encoding. Exposed for debugging mismatches."""
    fields = sorted((k for k in params if k != FIELD), key=_sort_key)
    body = "".join(f"&{k}={params[k]}" for k in fields)
    return f"HashKey={hash_key}{body}&HashIV={hash_iv}"


def check_mac_value(
    params: Mapping[str, str],
    hash_key: str,
    hash_iv: str,
    method: HashMethod = "sha256",
) -> str:
    """Compute CheckMacValue for `params` (all values as the exact strings sent or received)."""
    if method not in ("sha256", "md5"):
        raise ValueError(f"unsupported CheckMacValue method: {method!r}")
    encoded = ecpay_urlencode(mac_source(params, hash_key, hash_iv)).encode("ascii")
    digest = hashlib.sha256(encoded) if method == "sha256" else hashlib.md5(encoded)  # noqa: S324
    return digest.hexdigest().upper()


def verify_check_mac_value(
    params: Mapping[str, str],
    hash_key: str,
    hash_iv: str,
    method: HashMethod = "sha256",
) -> bool:
    """True if `params[CheckMacValue]` matches, compared in constant time.

    A missing or non-ASCII CheckMacValue is simply a mismatch, never an exception, so a
    webhook can treat every False the same way (answer 400, store nothing).
    """
    received = params.get(FIELD)
    if not received or not received.isascii():
        return False
    expected = check_mac_value(params, hash_key, hash_iv, method)
    # ECPay sends upper-case hex; accept either case but compare the same bytes in constant time.
    return hmac.compare_digest(expected.encode("ascii"), received.upper().encode("ascii"))
