"""Google Sign-In: an RS256 ID token checked locally against Google's published keys.

Google's guidance for backends ("Authenticate with a backend server"): verify the signature with
the keys at `https://www.googleapis.com/oauth2/v3/certs` (cached per `Cache-Control`), `iss` is
`accounts.google.com` or `https://accounts.google.com`, `aud` is one of the app's client ids,
`exp` has not passed. `email_verified` is a boolean claim; only then may the email link accounts.
"""

from __future__ import annotations

from commerce.auth.social.base import (
    Provider,
    SocialCredentials,
    SocialIdentity,
    clean_email,
    require,
    truthy_claim,
)
from commerce.auth.social.errors import ProviderNotConfigured
from commerce.auth.social.jwks import IdTokenPolicy, JwksCache, check_nonce, verify_id_token

ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})


class GoogleVerifier:
    provider: Provider = "google"

    def __init__(self, *, client_ids: list[str], jwks_url: str, cache: JwksCache) -> None:
        self._policy = IdTokenPolicy(
            provider="google",
            jwks_url=jwks_url,
            issuers=ISSUERS,
            audiences=frozenset(client_ids),
        )
        self._cache = cache

    async def verify(self, credentials: SocialCredentials) -> SocialIdentity:
        if not self._policy.audiences:
            raise ProviderNotConfigured("google", "GOOGLE_CLIENT_IDS")
        token = require(credentials.id_token, "id_token", "google")
        claims = await verify_id_token(token, self._policy, self._cache)
        check_nonce(claims, credentials.nonce)
        email = clean_email(claims.get("email"))
        return SocialIdentity(
            provider="google",
            subject=claims["sub"],
            email=email,
            email_verified=email is not None and truthy_claim(claims.get("email_verified")),
            name=claims.get("name") if isinstance(claims.get("name"), str) else None,
        )
