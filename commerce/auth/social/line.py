"""LINE Login: the ID token is checked by LINE's own verify endpoint.

LINE issues HS256 ID tokens (keyed with the channel secret) to web login and ES256 ones to the
SDKs and LIFF. `POST {api}/oauth2/v2.1/verify` (form: `id_token`, `client_id` = our channel id,
optional `nonce`) checks either kind, including expiry, audience and nonce, and answers the
claims (`iss` https://access.line.me, `sub`, `aud`, `exp`, `iat`, `nonce`, `name`, `picture`,
`email`) or a 400 `{"error": "invalid_request", "error_description": ...}`. Using it keeps the
channel secret out of this code path and follows LINE's recommendation for servers.

`email` is only present when the channel has the email permission and the user granted it.
LINE has no `email_verified` claim; see `line_trust_email` in settings.
"""

from __future__ import annotations

from typing import Any

from commerce.auth.social.base import (
    Provider,
    SocialCredentials,
    SocialIdentity,
    clean_email,
    json_body,
    provider_http,
    require,
)
from commerce.auth.social.errors import InvalidSocialToken, ProviderNotConfigured
from commerce.auth.social.jwks import MAX_TOKEN_CHARS, check_nonce

ISSUER = "https://access.line.me"


class LineVerifier:
    provider: Provider = "line"

    def __init__(
        self, *, channel_id: str | None, api_base: str, timeout_s: float, trust_email: bool
    ) -> None:
        self._channel_id = channel_id
        self._url = api_base.rstrip("/") + "/oauth2/v2.1/verify"
        self._timeout_s = timeout_s
        self._trust_email = trust_email

    async def verify(self, credentials: SocialCredentials) -> SocialIdentity:
        if not self._channel_id:
            raise ProviderNotConfigured("line", "LINE_CHANNEL_ID")
        token = require(credentials.id_token, "id_token", "line")
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidSocialToken()
        form = {"id_token": token, "client_id": self._channel_id}
        if credentials.nonce is not None:
            form["nonce"] = credentials.nonce
        async with provider_http("line", self._timeout_s) as client:
            response = await client.post(self._url, data=form)
        body = json_body(response, "line")
        if response.status_code != 200:
            # LINE answers 400 for a bad, expired, foreign or nonce-mismatched token.
            raise InvalidSocialToken(_describe(body))
        self._check(body)
        check_nonce(body, credentials.nonce)
        email = clean_email(body.get("email"))
        name = body.get("name")
        return SocialIdentity(
            provider="line",
            subject=body["sub"],
            email=email,
            email_verified=email is not None and self._trust_email,
            name=name if isinstance(name, str) else None,
        )

    def _check(self, claims: dict[str, Any]) -> None:
        """Belt and braces: the endpoint checked these, but a wrong base URL must not pass."""
        if claims.get("iss") != ISSUER or str(claims.get("aud")) != self._channel_id:
            raise InvalidSocialToken("the ID token was issued for another app")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise InvalidSocialToken("the ID token names no user")


def _describe(body: dict[str, Any]) -> str:
    detail = body.get("error_description")
    if isinstance(detail, str) and detail:
        return f"LINE refused the ID token: {detail[:200]}"
    return "LINE refused the ID token"
