"""Password policy and hashing.

Policy (NIST SP 800-63B style: length and a blocklist, no composition rules): at least
`MIN_LENGTH` characters, not the account's email or its local part (nor containing them), and
not one of 414,573 passwords from public breach corpora (`data/breached-passwords.txt.xz`, see
`data/README.md`; compared lowercased). Only the entries at least `MIN_LENGTH` long are kept in
memory (about 45,000): shorter ones are refused by length already, and the whole list as a set
would cost each API process some 40 MB.

Hashing is bcrypt, run in a worker thread so a 0.25 s hash never blocks the event loop. bcrypt
reads only the first 72 bytes of its input (and bcrypt 5 refuses longer input), so the password
is first reduced to base64(SHA-256(password)): 44 ASCII bytes with no NUL, every character of a
long passphrase counts, and no input length raises. Stored hashes carry a scheme prefix
(`bcrypt-sha256$`) so a later scheme can be recognised and rolled over on login.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import lzma
import secrets
from pathlib import Path

import bcrypt

from commerce.auth.errors import WeakPassword

MIN_LENGTH = 10
MAX_LENGTH = 1024  # hashing is length-independent after SHA-256; this bounds request work only
SCHEME = "bcrypt-sha256$"
_BREACHED_FILE = Path(__file__).with_name("data") / "breached-passwords.txt.xz"
_LOCAL_PART_MIN = 3  # below this "contains the local part" would refuse nearly anything


def breached_passwords() -> list[str]:
    """Every entry of the shipped list (lowercased), for tests and tools; not cached."""
    return lzma.decompress(_BREACHED_FILE.read_bytes()).decode("utf-8").splitlines()


@functools.cache
def common_passwords() -> frozenset[str]:
    """The blocklist entries a password of acceptable length could match, read once."""
    return frozenset(p for p in breached_passwords() if len(p) >= MIN_LENGTH)


def check_policy(password: str, *, email: str) -> None:
    """Raise `WeakPassword` (422 `weak_password`, reason in details) if the password is weak."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword("too_short", f"use at least {MIN_LENGTH} characters",
                           min_length=MIN_LENGTH)
    lowered = password.lower()
    email = email.lower()
    local = email.split("@", 1)[0]
    if email in lowered or lowered == local or (len(local) >= _LOCAL_PART_MIN and local in lowered):
        raise WeakPassword("contains_email", "the password must not contain your email address")
    if lowered in common_passwords():
        raise WeakPassword("common", "this password is too common")


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def _hash_sync(password: str, rounds: int) -> str:
    return SCHEME + bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode("ascii")


def _verify_sync(password: str, stored: str) -> bool:
    if not stored.startswith(SCHEME):
        return False
    try:
        return bcrypt.checkpw(_prehash(password), stored[len(SCHEME) :].encode("ascii"))
    except ValueError:  # a corrupt stored hash is a failed check, not a 500
        return False


async def hash_password(password: str, *, rounds: int) -> str:
    return await asyncio.to_thread(_hash_sync, password, rounds)


async def verify_password(password: str, stored: str | None, *, rounds: int) -> bool:
    """Constant work whether or not there is a hash: a missing one (unknown email, social-only
    account) is checked against a dummy hash of the configured cost, so timing reveals nothing."""
    if stored is None:
        await asyncio.to_thread(_verify_dummy, password, rounds)
        return False
    return await asyncio.to_thread(_verify_sync, password, stored)


@functools.cache
def _dummy_hash(rounds: int) -> str:
    return _hash_sync(secrets.token_urlsafe(16), rounds)


def _verify_dummy(password: str, rounds: int) -> None:
    _verify_sync(password, _dummy_hash(rounds))  # made on first use, in the worker thread


def needs_rehash(stored: str, *, rounds: int) -> bool:
    """True when the stored hash uses another scheme or cost than configured now."""
    if not stored.startswith(SCHEME):
        return True
    parts = stored[len(SCHEME) :].split("$")  # "", "2b", "12", salt+hash
    try:
        return int(parts[2]) != rounds
    except (IndexError, ValueError):
        return True
