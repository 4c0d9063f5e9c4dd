"""Errors of social login, rendered by the one error handler as the usual envelope.

Three outcomes a client must tell apart: the token itself is no good (401, ask the user to sign
in with the provider again), we are not set up for that provider (503, a deployment problem, no
retry helps), and the provider did not answer in time (503, retrying later may help).
"""

from __future__ import annotations

from shared.errors import Conflict, Unauthorized, Unavailable


class InvalidSocialToken(Unauthorized):
    """Bad signature, expired, wrong audience or issuer, nonce mismatch, refused by provider."""

    def __init__(self, message: str = "the provider token is invalid or expired") -> None:
        super().__init__(message, code="invalid_social_token")


class ProviderNotConfigured(Unavailable):
    def __init__(self, provider: str, missing: str) -> None:
        super().__init__(
            f"{provider} login is not configured on this server (missing {missing})",
            code="provider_not_configured",
            details={"provider": provider},
        )


class ProviderUnavailable(Unavailable):
    def __init__(self, provider: str, reason: str = "did not answer in time") -> None:
        super().__init__(
            f"{provider} {reason}; try again later",
            code="provider_unavailable",
            details={"provider": provider},
        )


class SocialEmailTaken(Conflict):
    """The provider names an email we already have, but does not vouch for it.

    Linking on an unverified address would hand that account to whoever controls the provider
    account, so the caller must sign in to the existing account the way it was created.
    """

    def __init__(self) -> None:
        super().__init__(
            "an account with this email already exists and the provider did not verify the "
            "email; sign in to that account with its password or the provider it uses",
            code="email_taken",
        )
