"""A generic OpenID Connect ID-token verifier, configured entirely by settings.

Kapook (a Thai portal) publishes no login API; the seed lists it as "placeholder for
integration". Rather than invent a wire format, `kapook` accepts ID tokens from whichever OIDC
provider the operator configures (`KAPOOK_ISSUER`, `KAPOOK_JWKS_URL`, `KAPOOK_CLIENT_ID`), e.g.
Kapook's own if it ever ships one, or an identity broker in front of it. Unconfigured, it
answers 503 `provider_not_configured`.
"""

from __future__ import annotations

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


class OidcVerifier:
    def __init__(
        self,
        *,
        provider: Provider,
        issuer: str | None,
        jwks_url: str | None,
        client_id: str | None,
        algorithms: Sequence[str],
        trust_email_verified: bool,
        cache: JwksCache,
    ) -> None:
        self.provider = provider
        self._missing = ", ".join(
            name
            for name, value in (
                ("ISSUER", issuer),
                ("JWKS_URL", jwks_url),
                ("CLIENT_ID", client_id),
            )
            if not value
        )
        self._policy = IdTokenPolicy(
            provider=provider,
            jwks_url=jwks_url or "",
            issuers=frozenset({issuer} if issuer else set()),
            audiences=frozenset({client_id} if client_id else set()),
            algorithms=tuple(algorithms),
        )
        self._trust_email_verified = trust_email_verified
        self._cache = cache

    async def verify(self, credentials: SocialCredentials) -> SocialIdentity:
        if self._missing:
            prefix = self.provider.upper()
            missing = ", ".join(f"{prefix}_{name}" for name in self._missing.split(", "))
            raise ProviderNotConfigured(self.provider, missing)
        token = require(credentials.id_token, "id_token", self.provider)
        claims = await verify_id_token(token, self._policy, self._cache)
        check_nonce(claims, credentials.nonce)
        email = clean_email(claims.get("email"))
        name = claims.get("name")
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
