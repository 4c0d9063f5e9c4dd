"""One verifier per provider, built from settings; one per app, built by `commerce.app` and
handed to the login route by `SocialRegistryDep` (commerce/auth/social/dependencies.py).

One registry per app (and with it one JWKS cache) means the keys fetched by one request serve
the next, while each test's fresh app starts from an empty cache.
"""

from __future__ import annotations

from collections.abc import Mapping

from commerce.auth.social.apple import apple_verifier
from commerce.auth.social.base import PROVIDERS, Provider, SocialVerifier
from commerce.auth.social.facebook import FacebookVerifier
from commerce.auth.social.google import google_verifier
from commerce.auth.social.instagram import InstagramVerifier
from commerce.auth.social.jwks import JwksCache
from commerce.auth.social.line import LineVerifier
from commerce.auth.social.oidc import oidc_verifier
from shared.settings import CommerceSettings


class SocialRegistry:
    def __init__(self, settings: CommerceSettings) -> None:
        timeout = settings.social_http_timeout_s
        self.jwks = JwksCache(
            timeout_s=timeout,
            min_ttl_s=settings.social_jwks_min_ttl_s,
            max_ttl_s=settings.social_jwks_max_ttl_s,
        )
        verifiers: dict[Provider, SocialVerifier] = {
            "line": LineVerifier(
                channel_id=settings.line_channel_id,
                api_base=settings.line_api_base,
                timeout_s=timeout,
                trust_email=settings.line_trust_email,
            ),
            "google": google_verifier(
                client_ids=settings.google_client_ids,
                jwks_url=settings.google_jwks_url,
                cache=self.jwks,
            ),
            "apple": apple_verifier(
                client_ids=settings.apple_client_ids,
                jwks_url=settings.apple_jwks_url,
                cache=self.jwks,
            ),
            "facebook": FacebookVerifier(
                app_id=settings.facebook_app_id,
                app_secret=settings.facebook_app_secret,
                graph_base=settings.facebook_graph_base,
                limited_jwks_url=settings.facebook_limited_jwks_url,
                cache=self.jwks,
                timeout_s=timeout,
            ),
            "instagram": InstagramVerifier(
                app_id=settings.instagram_app_id,
                app_secret=settings.instagram_app_secret,
                redirect_uri=settings.instagram_redirect_uri,
                oauth_base=settings.instagram_oauth_base,
                graph_base=settings.instagram_graph_base,
                timeout_s=timeout,
            ),
            "kapook": oidc_verifier(
                provider="kapook",
                issuer=settings.kapook_issuer,
                jwks_url=settings.kapook_jwks_url,
                client_id=settings.kapook_client_id,
                algorithms=settings.kapook_algorithms,
                trust_email_verified=settings.kapook_trust_email_verified,
                cache=self.jwks,
            ),
        }
        assert set(verifiers) == set(PROVIDERS)
        self._verifiers: Mapping[Provider, SocialVerifier] = verifiers

    def get(self, provider: Provider) -> SocialVerifier:
        return self._verifiers[provider]

