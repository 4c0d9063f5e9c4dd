"""Fake LINE Login: `POST /oauth2/v2.1/verify` as LINE documents it, plus `/oauth2/v2.1/certs`.

ID tokens are HS256 keyed with the channel secret (web login) or ES256 with a published key
(SDKs, LIFF). The verify endpoint takes a form (`id_token`, `client_id`, optional `nonce`),
answers the claims on success and `400 {"error": "invalid_request", "error_description": ...}`
otherwise, with LINE's descriptions.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from jose import JWTError, jwt

from tests.fakes.social.common import FakeServer, SigningKey, jwks_response, make_key, now

ISSUER = "https://access.line.me"


def _invalid(description: str) -> web.Response:
    return web.json_response(
        {"error": "invalid_request", "error_description": description}, status=400
    )


class FakeLine(FakeServer):
    def __init__(
        self, channel_id: str = "1657000001", channel_secret: str = "line-channel-secret"
    ) -> None:
        super().__init__()
        self.channels = {channel_id: channel_secret}
        self.channel_id = channel_id
        self.key: SigningKey = make_key("ES256", 0)
        self.app.router.add_post("/oauth2/v2.1/verify", self._verify)
        self.app.router.add_get("/oauth2/v2.1/certs", self._certs)

    async def _certs(self, _request: web.Request) -> web.Response:
        return jwks_response([self.key], 86400)

    async def _verify(self, request: web.Request) -> web.Response:
        form = await request.post()
        token, client_id = form.get("id_token"), form.get("client_id")
        if not isinstance(token, str) or not isinstance(client_id, str):
            return _invalid("Required parameter is missing.")
        try:
            alg = jwt.get_unverified_header(token).get("alg")
            unverified = jwt.get_unverified_claims(token)
        except JWTError:
            return _invalid("Invalid IdToken.")
        secret = self.channels.get(str(unverified.get("aud")))
        key: Any = secret if alg == "HS256" else self.key.public_jwk
        if key is None or alg not in ("HS256", "ES256"):
            return _invalid("Invalid IdToken.")
        try:
            claims = jwt.decode(token, key, algorithms=[alg], options={"verify_aud": False})
        except JWTError as exc:
            return _invalid("IdToken expired." if "expired" in str(exc) else "Invalid IdToken.")
        if claims.get("iss") != ISSUER:
            return _invalid("Invalid IdToken Issuer.")
        if str(claims.get("aud")) != client_id:
            return _invalid("Invalid IdToken Audience.")
        nonce = form.get("nonce")
        if nonce is not None and claims.get("nonce") != nonce:
            return _invalid("Invalid IdToken Nonce.")
        return web.json_response(claims)

    def id_token(
        self,
        sub: str = "U4af4980629a5e2c3d4e5f60718293a4b",
        *,
        alg: str = "HS256",
        channel_id: str | None = None,
        secret: str | None = None,
        email: str | None = "somsak@example.co.th",
        nonce: str | None = None,
        expires_in: int = 3600,
    ) -> str:
        channel = channel_id or self.channel_id
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": sub,
            "aud": channel,
            "exp": now() + expires_in,
            "iat": now() if expires_in > 0 else now() + expires_in - 3600,
            "amr": ["pwd"],
            "name": "Somsak",
            "picture": "https://profile.line-scdn.net/0h-example",
        }
        if email is not None:
            claims["email"] = email
        if nonce is not None:
            claims["nonce"] = nonce
        if alg == "HS256":
            key = secret or self.channels.get(channel, "unknown-channel-secret")
            return jwt.encode(claims, key, algorithm="HS256", headers={"typ": "JWT"})
        return self.key.sign(claims, typ="JWT")
