"""Fake Google: publishes its keys at `/oauth2/v3/certs` and mints RS256 ID tokens shaped like
Google's (`iss` accounts.google.com, `aud` the client id, `email_verified` boolean)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.social.common import FakeServer, SigningKey, jwks_response, make_key, now

ISSUER = "https://accounts.google.com"


class FakeGoogle(FakeServer):
    def __init__(self, client_id: str = "web-client.apps.googleusercontent.com") -> None:
        super().__init__()
        self.client_id = client_id
        self.keys: list[SigningKey] = [make_key("RS256", 0)]
        self.max_age = 21600
        self.app.router.add_get("/oauth2/v3/certs", self._certs)

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/oauth2/v3/certs"

    async def _certs(self, _request: web.Request) -> web.Response:
        return jwks_response(self.keys, self.max_age)

    def rotate(self) -> SigningKey:
        """Publish a new key (first in the set), as Google does ahead of using it."""
        key = make_key("RS256", len(self.keys))
        self.keys.insert(0, key)
        return key

    def id_token(
        self,
        sub: str = "110169484474386276334",
        *,
        email: str | None = "shopper@gmail.com",
        email_verified: bool = True,
        aud: str | None = None,
        iss: str = ISSUER,
        nonce: str | None = None,
        expires_in: int = 3600,
        key: SigningKey | None = None,
        **extra: Any,
    ) -> str:
        issued = now() if expires_in > 0 else now() + expires_in - 3600
        claims: dict[str, Any] = {
            "iss": iss,
            "azp": aud or self.client_id,
            "aud": aud or self.client_id,
            "sub": sub,
            "iat": issued,
            "exp": now() + expires_in,
            "name": "Mei Chen",
            "at_hash": "HK6E_P6Dh8Y93mRNtsDB1Q",  # present in code-flow tokens
            **extra,
        }
        if email is not None:
            claims |= {"email": email, "email_verified": email_verified}
        if nonce is not None:
            claims["nonce"] = nonce
        return (key or self.keys[0]).sign(claims)
