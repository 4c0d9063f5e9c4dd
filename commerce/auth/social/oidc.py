"""Sign-in with an OpenID Connect ID token checked locally against the provider's published keys:
the flow Google, Apple and any operator-configured OIDC provider share (`IdTokenVerifier`);
`google.py` and `apple.py` hold what is particular to each.

Kapook (a Thai portal) publishes no login API; the seed lists it as "placeholder for
integration". Rather than invent a wire format, `kapook` accepts ID tokens from whichever OIDC
provider the operator configures (`KAPOOK_ISSUER`, `KAPOOK_JWKS_URL`, `KAPOOK_CLIENT_ID`), e.g.
Kapook's own if it ever ships one, or an identity broker in front of it. Unconfigured, it
answers 503 `provider_not_configured`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

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


class IdTokenVerifier:
    """Verify the ID token (signature, issuer, audience, times), then the nonce, and read the
    identity from its claims.

    `unset`: the settings still missing (answered 503 `provider_not_configured`).
    `hash_nonce`: the token carries the SHA-256 hex digest of the client's raw nonce (Apple).
    `name_claim`: whether the token's `name` claim is the user's name.
    `trust_email_verified`: whether the provider's `email_verified` may link accounts.
    """

    def __init__(
        self,
        *,
        provider: Provider,
        policy: IdTokenPolicy,
        cache: JwksCache,
        unset: str = "",
        hash_nonce: bool = False,
        name_claim: bool = True,
        trust_email_verified: bool = True,
    ) -> None:
        self.provider = provider
        self._policy = policy
        self._cache = cache
        self._unset = unset
        self._hash_nonce = hash_nonce
        self._name_claim = name_claim
        self._trust_email_verified = trust_email_verified

    async def verify(self, credentials: SocialCredentials) -> SocialIdentity:
        if self._unset:
            raise ProviderNotConfigured(self.provider, self._unset)
        token = require(credentials.id_token, "id_token", self.provider)
        claims = await verify_id_token(token, self._policy, self._cache)
        nonce = credentials.nonce
        if self._hash_nonce and nonce is not None:
            nonce = hashlib.sha256(nonce.encode()).hexdigest()
        check_nonce(claims, nonce)
        email = clean_email(claims.get("email"))
        name = claims.get("name") if self._name_claim else None
        return SocialIdentity(
            provider=self.provider,
            subject=claims["sub"],
            email=email,
            email_verified=(
                email is not None
                and self._trust_email_verified
                and truthy_claim(claims.get("email_verified"))
            ),
            name=name if isinstance(name, str) else None,
        )


def oidc_verifier(
    *,
    provider: Provider,
    issuer: str | None,
    jwks_url: str | None,
    client_id: str | None,
    algorithms: Sequence[str],
    trust_email_verified: bool,
    cache: JwksCache,
) -> IdTokenVerifier:
    """A provider configured entirely by settings (`<PROVIDER>_ISSUER`, `_JWKS_URL`,
    `_CLIENT_ID`)."""
    prefix = provider.upper()
    unset = ", ".join(
        f"{prefix}_{name}"
        for name, value in (("ISSUER", issuer), ("JWKS_URL", jwks_url), ("CLIENT_ID", client_id))
        if not value
    )
    policy = IdTokenPolicy(
        provider=provider,
        jwks_url=jwks_url or "",
        issuers=frozenset({issuer} if issuer else set()),
        audiences=frozenset({client_id} if client_id else set()),
        algorithms=tuple(algorithms),
    )
    return IdTokenVerifier(
        provider=provider, policy=policy, cache=cache, unset=unset,
        trust_email_verified=trust_email_verified,
    )
