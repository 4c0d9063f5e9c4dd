"""Google Sign-In: an RS256 ID token checked locally against Google's published keys.

Google's guidance for backends ("Authenticate with a backend server"): verify the signature with
the keys at `https://www.googleapis.com/oauth2/v3/certs` (cached per `Cache-Control`), `iss` is
`accounts.google.com` or `https://accounts.google.com`, `aud` is one of the app's client ids,
`exp` has not passed. `email_verified` is a boolean claim; only then may the email link accounts.
"""

from __future__ import annotations

from commerce.auth.social.jwks import IdTokenPolicy, JwksCache
from commerce.auth.social.oidc import IdTokenVerifier

ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})


def google_verifier(*, client_ids: list[str], jwks_url: str, cache: JwksCache) -> IdTokenVerifier:
    policy = IdTokenPolicy(
        provider="google", jwks_url=jwks_url, issuers=ISSUERS, audiences=frozenset(client_ids)
    )
    return IdTokenVerifier(
        provider="google", policy=policy, cache=cache,
        unset="" if client_ids else "GOOGLE_CLIENT_IDS",
    )
