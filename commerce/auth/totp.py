"""TOTP (RFC 6238) primitives: secrets encrypted at rest, codes checked with their time step.

The secret is what an authenticator app holds; anyone with the database and the secret can
mint codes, so it is stored encrypted (Fernet, AES-128-CBC + HMAC-SHA256) under a key derived
from `TOTP_ENCRYPTION_KEY` (production refuses the development value). Codes are the standard
6 digits over 30-second steps (what every authenticator app shows). A code is accepted one step
either side of now (clock drift), and `matching_step` returns the step it matched so the caller
can refuse a code whose step was already used (RFC 6238 §5.2: "the verifier MUST NOT accept
the second attempt of the same OTP").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

import pyotp
from cryptography.fernet import Fernet, InvalidToken

DIGITS = 6
STEP_S = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i look-alikes


def _fernet(key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


def new_secret() -> str:
    """160 random bits, base32 (RFC 4226 recommends at least 128; 160 is HMAC-SHA1's size)."""
    return pyotp.random_base32(32)


def encrypt(secret: str, *, key: str) -> str:
    return _fernet(key).encrypt(secret.encode()).decode("ascii")


def decrypt(token: str, *, key: str) -> str:
    try:
        return _fernet(key).decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise ValueError("TOTP secret cannot be decrypted with the configured key") from None


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The `otpauth://totp/...` URI authenticator apps scan (Key Uri Format)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).provisioning_uri(
        name=account, issuer_name=issuer
    )


def matching_step(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The time step `code` is valid for (now, or one step either side), or None."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S)
    at = time.time() if now is None else now
    current = int(at // STEP_S)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # compare every candidate (constant work whichever matches)
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def new_recovery_codes() -> list[str]:
    """Ten codes of 10 characters (about 49 bits each), shown as `xxxxx-xxxxx`."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def recovery_hash(code: str) -> str:
    """Digest of a recovery code as typed (case, spaces and the dash do not matter)."""
    canonical = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(canonical.encode()).hexdigest()
