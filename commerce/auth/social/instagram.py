"""Instagram: the "Instagram API with Instagram Login" (Business Login) authorization code.

The consumer Basic Display API was shut down in December 2024; what remains is Business Login
for professional (business/creator) accounts. The client app gets an authorization `code` on
its redirect URI and sends it here; we exchange it (this needs the app secret, so it can only
happen server-side) at `POST {oauth}/oauth/access_token` (form: client_id, client_secret,
grant_type=authorization_code, redirect_uri, code). The documented answer is
`{"data": [{"access_token", "user_id", "permissions"}]}` (a flat object is accepted too); the
`user_id` is the Instagram-scoped id of the user for our app and becomes the subject. Then
`GET {graph}/me?fields=user_id,username` proves the token works and gives a display name.

Instagram never returns an email address, so an Instagram identity never links by email: it
logs in the account it created (or was linked to) by subject only.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from commerce.auth.social.base import (
    Provider,
    SocialCredentials,
    SocialIdentity,
    json_body,
    provider_http,
    require,
)
from commerce.auth.social.errors import InvalidSocialToken, ProviderNotConfigured

MAX_CODE_CHARS = 2048


class InstagramVerifier:
    provider: Provider = "instagram"

    def __init__(
        self,
        *,
        app_id: str | None,
        app_secret: SecretStr | None,
        redirect_uri: str | None,
        oauth_base: str,
        graph_base: str,
        timeout_s: float,
    ) -> None:
        self._app_id = app_id
        self._app_secret = app_secret
        self._redirect_uri = redirect_uri
        self._token_url = oauth_base.rstrip("/") + "/oauth/access_token"
        self._me_url = graph_base.rstrip("/") + "/me"
        self._timeout_s = timeout_s

    async def verify(self, credentials: SocialCredentials) -> SocialIdentity:
        if not (self._app_id and self._app_secret and self._redirect_uri):
            raise ProviderNotConfigured(
                "instagram", "INSTAGRAM_APP_ID, INSTAGRAM_APP_SECRET or INSTAGRAM_REDIRECT_URI"
            )
        # Instagram appends "#_" to the redirect; it is not part of the code.
        code = require(credentials.code, "code", "instagram").removesuffix("#_")
        if len(code) > MAX_CODE_CHARS:
            raise InvalidSocialToken()
        async with provider_http("instagram", self._timeout_s) as client:
            exchanged = await client.post(
                self._token_url,
                data={
                    "client_id": self._app_id,
                    "client_secret": self._app_secret.get_secret_value(),
                    "grant_type": "authorization_code",
                    "redirect_uri": self._redirect_uri,
                    "code": code,
                },
            )
            token, user_id = _token_and_user(json_body(exchanged, "instagram"), exchanged)
            me = await client.get(
                self._me_url, params={"fields": "user_id,username", "access_token": token}
            )
        profile = json_body(me, "instagram")
        if me.status_code != 200:
            raise InvalidSocialToken("Instagram refused the access token")
        username = profile.get("username")
        return SocialIdentity(
            provider="instagram",
            subject=user_id,
            email=None,
            email_verified=False,
            name=username if isinstance(username, str) else None,
        )


def _token_and_user(body: dict[str, Any], response: Any) -> tuple[str, str]:
    if response.status_code != 200:
        # e.g. 400 {"error_type": "OAuthException", "code": 400, "error_message": ...}
        raise InvalidSocialToken("Instagram refused the authorization code")
    data = body.get("data")
    entry = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else body
    token, user_id = entry.get("access_token"), entry.get("user_id")
    if not isinstance(token, str) or not token or not isinstance(user_id, (str, int)):
        raise InvalidSocialToken("Instagram answered no access token")
    return token, str(user_id)
