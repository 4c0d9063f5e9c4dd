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

from commerce.auth.social.jwks import IdTokenPolicy, JwksCache
from commerce.auth.social.oidc import IdTokenVerifier

ISSUER = "https://appleid.apple.com"


def apple_verifier(*, client_ids: list[str], jwks_url: str, cache: JwksCache) -> IdTokenVerifier:
    policy = IdTokenPolicy(
        provider="apple", jwks_url=jwks_url, issuers=frozenset({ISSUER}),
        audiences=frozenset(client_ids),
    )
    # Apple puts no name in the token (the app gets it once, on first sign-in).
    return IdTokenVerifier(
        provider="apple", policy=policy, cache=cache,
        unset="" if client_ids else "APPLE_CLIENT_IDS", hash_nonce=True, name_claim=False,
    )
