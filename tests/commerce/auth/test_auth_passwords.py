"""The password module on its own: the shipped blocklist, hashing, rehash detection."""

from __future__ import annotations

import pytest

from commerce.auth import passwords
from commerce.auth.errors import WeakPassword


def test_blocklist_is_the_breach_derived_list() -> None:
    shipped = passwords.breached_passwords()
    assert len(shipped) >= 400_000 and len(set(shipped)) == len(shipped)
    assert shipped == sorted(shipped) and all(p == p.strip().lower() and p for p in shipped)
    common = passwords.common_passwords()
    assert all(len(p) >= passwords.MIN_LENGTH for p in common)
    assert common == {p for p in shipped if len(p) >= passwords.MIN_LENGTH}
    # Breach-list favourites the previous 10k list (SecLists' 10k-most-common) did not have.
    assert {"q1w2e3r4t5", "password123", "1qaz2wsx3edc", "qwerty12345", "qazwsxedcrfv"} <= common
    assert {"qwertyuiop", "1234567890"} <= common  # and what it had


@pytest.mark.parametrize(
    ("password", "email", "reason"),
    [
        ("abcdefghi", "x@example.test", "too_short"),
        ("bo", "bo@example.test", "too_short"),
        ("Basketball", "x@example.test", "common"),
        ("Password123", "x@example.test", "common"),
        ("1QAZ2wsx3edc", "x@example.test", "common"),
        ("AB-and-more-text", "ab@example.test", None),  # a 2-letter local part may appear
        ("longer-nameXYZ", "longer-name@example.test", "contains_email"),
        ("a sentence of my own", "x@example.test", None),
    ],
)
def test_policy(password: str, email: str, reason: str | None) -> None:
    if reason is None:
        passwords.check_policy(password, email=email)
        return
    with pytest.raises(WeakPassword) as info:
        passwords.check_policy(password, email=email)
    assert info.value.details["reason"] == reason


async def test_hash_verify_and_rehash() -> None:
    stored = await passwords.hash_password("pässwörd " * 20, rounds=4)
    assert stored.startswith(passwords.SCHEME) and len(stored) <= 100  # fits the column
    assert await passwords.verify_password("pässwörd " * 20, stored, rounds=4)
    assert not await passwords.verify_password("pässwörd " * 19, stored, rounds=4)
    assert not await passwords.verify_password("anything", None, rounds=4)
    assert not await passwords.verify_password("anything", "$2b$04$corrupt", rounds=4)
    assert not passwords.needs_rehash(stored, rounds=4)
    assert passwords.needs_rehash(stored, rounds=5)
    assert passwords.needs_rehash("$2b$04$unprefixed", rounds=4)
