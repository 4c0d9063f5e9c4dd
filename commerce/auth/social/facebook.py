"""Facebook Login: a classic access token checked with `debug_token`, or an iOS Limited Login
ID token checked locally.

Access token (Android, web, iOS with tracking allowed): `GET {graph}/debug_token?input_token=
<token>&access_token=<app_id>|<app_secret>` answers `{"data": {"app_id", "type", "is_valid",
"user_id", "expires_at", ...}}`; the token must be valid and issued to *our* app (a token a user
gave some other app must not log them in here). Then `GET {graph}/me?fields=id,name,email`
with `appsecret_proof` (HMAC-SHA256 of the token keyed with the app secret) reads the profile.

Limited Login (iOS, tracking declined) gives no Graph-usable token, only an RS256 OIDC token:
keys at `https://limited.facebook.com/.well-known/oauth/openid/jwks/`, `iss`
`https://www.facebook.com` (or the newer `https://limited.facebook.com`), `aud` our app id, and
the nonce the app chose, unhashed.

Email: Facebook has no `email_verified`. The Graph `email` field is the user's primary address
and is omitted when Facebook has no confirmed one, so an address that is returned is treated as
verified; one that is absent just means no linking by email.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import structlog
from pydantic import SecretStr

from commerce.auth.social.base import (
    Provider,
    SocialCredentials,
    SocialIdentity,
    clean_email,
    json_body,
    provider_http,
)
from commerce.auth.social.errors import InvalidSocialToken, ProviderNotConfigured
from commerce.auth.social.jwks import (
    MAX_TOKEN_CHARS,
    IdTokenPolicy,
    JwksCache,
    check_nonce,
    verify_id_token,
)

log = structlog.get_logger(__name__)

LIMITED_ISSUERS = frozenset({"https://www.facebook.com", "https://limited.facebook.com"})


class FacebookVerifier:
    provider: Provider = "facebook"

    def __init__(
        self,
        *,
        app_id: str | None,
        app_secret: SecretStr | None,
        graph_base: str,
        limited_jwks_url: str,
        cache: JwksCache,
        timeout_s: float,
    ) -> None:
        self._app_id = app_id
        self._app_secret = app_secret
        self._graph = graph_base.rstrip("/")
        self._policy = IdTokenPolicy(
            provider="facebook",
            jwks_url=limited_jwks_url,
            issuers=LIMITED_ISSUERS,
            audiences=frozenset({app_id} if app_id else set()),
        )
        self._cache = cache
        self._timeout_s = timeout_s

    async def verify(self, credentials: SocialCredentials) -> SocialIdentity:
        if not self._app_id:
            raise ProviderNotConfigured("facebook", "FACEBOOK_APP_ID")
        if credentials.access_token:
            return await self._verify_access_token(credentials.access_token)
        if credentials.id_token:
            return await self._verify_limited_login(credentials.id_token, credentials.nonce)
        raise InvalidSocialToken("facebook login needs `access_token` or `id_token`")

    async def _verify_limited_login(self, token: str, nonce: str | None) -> SocialIdentity:
        claims = await verify_id_token(token, self._policy, self._cache)
        check_nonce(claims, nonce)
        email = clean_email(claims.get("email"))
        name = claims.get("name")
        return SocialIdentity(
            provider="facebook",
            subject=claims["sub"],
            email=email,
            email_verified=email is not None,
            name=name if isinstance(name, str) else None,
        )

    async def _verify_access_token(self, token: str) -> SocialIdentity:
        if self._app_secret is None:
            raise ProviderNotConfigured("facebook", "FACEBOOK_APP_SECRET")
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidSocialToken()
        secret = self._app_secret.get_secret_value()
        async with provider_http("facebook", self._timeout_s) as client:
            debug = await client.get(
                f"{self._graph}/debug_token",
                params={"input_token": token, "access_token": f"{self._app_id}|{secret}"},
            )
            user_id = self._check_debug(json_body(debug, "facebook"), debug.status_code)
            proof = hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            me = await client.get(
                f"{self._graph}/me",
                params={"fields": "id,name,email", "access_token": token, "appsecret_proof": proof},
            )
        profile = json_body(me, "facebook")
        if me.status_code != 200 or str(profile.get("id")) != user_id:
            raise InvalidSocialToken("Facebook refused the access token")
        email = clean_email(profile.get("email"))
        name = profile.get("name")
        return SocialIdentity(
            provider="facebook",
            subject=user_id,
            email=email,
            email_verified=email is not None,
            name=name if isinstance(name, str) else None,
        )

    def _check_debug(self, body: dict[str, Any], status: int) -> str:
        """The token's user id, if the token is valid, a user token, and issued to our app."""
        data = body.get("data")
        if status != 200 or not isinstance(data, dict):
            # A malformed user token, but also our own app token being refused (wrong app
            # secret): log Facebook's reason so a misconfiguration is visible to operators.
            error = body.get("error")
            log.warning(
                "facebook_debug_token_refused",
                status=status,
                reason=str(error.get("message", ""))[:200] if isinstance(error, dict) else None,
            )
            raise InvalidSocialToken("Facebook refused the access token")
        if data.get("is_valid") is not True:
            raise InvalidSocialToken("the Facebook access token is invalid or expired")
        if str(data.get("app_id")) != self._app_id:
            raise InvalidSocialToken("the Facebook access token was issued for another app")
        if data.get("type", "USER") != "USER" or not data.get("user_id"):
            raise InvalidSocialToken("the Facebook access token is not a user token")
        return str(data["user_id"])
