"""Domain errors of accounts and tokens; the one error handler renders them as the envelope."""

from __future__ import annotations

from typing import Any

from shared.errors import Conflict, InvalidInput, Unauthorized


class WeakPassword(InvalidInput):
    """422 `weak_password`; `details.reason` is machine-readable (too_short, contains_email,
    common) so a client can show its own message."""

    def __init__(self, reason: str, message: str, **extra: Any) -> None:
        super().__init__(message, code="weak_password", details={"reason": reason, **extra})


class EmailTaken(Conflict):
    def __init__(self) -> None:
        super().__init__("an account with this email already exists", code="email_taken")


class InvalidCredentials(Unauthorized):
    """The same answer for an unknown email, a wrong password and a disabled account."""

    def __init__(self) -> None:
        super().__init__("email or password is wrong", code="invalid_credentials")


class InvalidRefreshToken(Unauthorized):
    """Unknown, expired, spent or revoked refresh token (the client must log in again)."""

    def __init__(self, message: str = "refresh token is invalid or expired") -> None:
        super().__init__(message, code="invalid_refresh_token")
