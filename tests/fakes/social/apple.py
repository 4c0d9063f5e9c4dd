"""Fake Sign in with Apple: keys at `/auth/keys`, RS256 ID tokens shaped like Apple's.

Like Apple, `email_verified` and `is_private_email` are strings ("true"), and a native-app
token carries the SHA-256 hex digest of the app's raw nonce (`hashed_nonce=`)."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from tests.fakes.social.common import FakeServer, SigningKey, jwks_response, make_key, now

ISSUER = "https://appleid.apple.com"


class FakeApple(FakeServer):
    def __init__(self, client_id: str = "tw.livecommerce.app") -> None:
        super().__init__()
        self.client_id = client_id
        self.keys: list[SigningKey] = [make_key("RS256", 1)]
        self.app.router.add_get("/auth/keys", self._keys)

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/auth/keys"

    async def _keys(self, _request: web.Request) -> web.Response:
        return jwks_response(self.keys, 86400)

    def id_token(
        self,
        sub: str = "001234.5f3c0d7e8b9a4c1d2e3f4a5b6c7d8e9f.0123",
        *,
        email: str | None = "x7hd2k@privaterelay.appleid.com",
        email_verified: str | bool = "true",
        raw_nonce: str | None = None,
        aud: str | None = None,
        expires_in: int = 600,
        key: SigningKey | None = None,
    ) -> str:
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": aud or self.client_id,
            "sub": sub,
            "iat": now() if expires_in > 0 else now() + expires_in - 600,
            "exp": now() + expires_in,
            "c_hash": "Gb3OtWO0dd9k6aKq_P2Dcw",
            "auth_time": now(),
        }
        if email is not None:
            claims |= {
                "email": email,
                "email_verified": email_verified,
                "is_private_email": "true" if "privaterelay" in email else "false",
            }
        if raw_nonce is not None:
            claims |= {
                "nonce": hashlib.sha256(raw_nonce.encode()).hexdigest(),
                "nonce_supported": True,
            }
        return (key or self.keys[0]).sign(claims)
