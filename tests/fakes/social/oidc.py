"""A generic OpenID Connect provider (discovery document, JWKS, RS256 ID tokens): what the
`kapook` provider is configured against."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.social.common import FakeServer, SigningKey, jwks_response, make_key, now


class FakeOidc(FakeServer):
    def __init__(self, client_id: str = "kapook-client") -> None:
        super().__init__()
        self.client_id = client_id
        self.keys: list[SigningKey] = [make_key("RS256", 2)]
        self.app.router.add_get("/.well-known/openid-configuration", self._discovery)
        self.app.router.add_get("/jwks", self._jwks)

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    async def _discovery(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "jwks_uri": self.jwks_url,
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
            }
        )

    async def _jwks(self, _request: web.Request) -> web.Response:
        return jwks_response(self.keys, 3600)

    def id_token(
        self,
        sub: str = "kapook-user-42",
        *,
        email: str | None = "somchai@kapook.test",
        email_verified: bool = True,
        aud: str | None = None,
        nonce: str | None = None,
        expires_in: int = 600,
    ) -> str:
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": aud or self.client_id,
            "sub": sub,
            "iat": now() if expires_in > 0 else now() + expires_in - 600,
            "exp": now() + expires_in,
            "name": "Somchai",
        }
        if email is not None:
            claims |= {"email": email, "email_verified": email_verified}
        if nonce is not None:
            claims["nonce"] = nonce
        return self.keys[0].sign(claims)
