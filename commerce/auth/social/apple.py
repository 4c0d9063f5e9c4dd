"""Sign in with Apple: an RS256 ID token checked locally against Apple's published keys.

Apple's "Verifying a user" steps: signature with the keys at
`https://appleid.apple.com/auth/keys`, `iss` is `https://appleid.apple.com`, `aud` is our
services id (web) or bundle id (apps), `exp` has not passed, and the nonce matches.

Native apps (AuthenticationServices) send Apple the SHA-256 hex digest of their raw nonce, and
the token carries that digest. The client sends us the raw nonce and we hash it: accepting the
digest itself would let anyone who saw the token (the digest is in it) replay it.

`email_verified` arrives as the string "true" or a boolean; Apple only issues verified emails.
Private-relay addresses (`...@privaterelay.appleid.com`) are real, stable, deliverable
addresses for our app and link like any other.
"""

from __future__ import annotations

import hashlib

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

ISSUER = "https://appleid.apple.com"


class AppleVerifier:
    provider: Provider = "apple"

    def __init__(self, *, client_ids: list[str], jwks_url: str, cache: JwksCache) -> None:
        self._policy = IdTokenPolicy(
            provider="apple",
            jwks_url=jwks_url,
            issuers=frozenset({ISSUER}),
            audiences=frozenset(client_ids),
        )
        self._cache = cache

    async def verify(self, credentials: SocialCredentials) -> SocialIdentity:
        if not self._policy.audiences:
            raise ProviderNotConfigured("apple", "APPLE_CLIENT_IDS")
        token = require(credentials.id_token, "id_token", "apple")
        claims = await verify_id_token(token, self._policy, self._cache)
        hashed = (
            hashlib.sha256(credentials.nonce.encode()).hexdigest()
            if credentials.nonce is not None
            else None
        )
        check_nonce(claims, hashed)
        email = clean_email(claims.get("email"))
        return SocialIdentity(
            provider="apple",
            subject=claims["sub"],
            email=email,
            email_verified=email is not None and truthy_claim(claims.get("email_verified")),
            # Apple puts no name in the token (the app gets it once, on first sign-in).
            name=None,
        )
