"""Fake Facebook: the Graph API's `debug_token` and `/me`, and Limited Login's OIDC keys.

Graph answers as documented: `debug_token` needs an app access token (`{app_id}|{secret}`) and
answers `{"data": {...}}` (`is_valid: false` with an `error` for a bad user token); `/me` needs
`appsecret_proof` = HMAC-SHA256(app secret, token) and leaves out `email` when the user has
none; errors are `{"error": {"message", "type": "OAuthException", "code", "fbtrace_id"}}`.
Routes take any Graph version prefix (`/v23.0/me`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from aiohttp import web

from tests.fakes.social.common import FakeServer, SigningKey, jwks_response, make_key, now


def _graph_error(message: str, code: int, status: int = 400) -> web.Response:
    return web.json_response(
        {
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "fbtrace_id": secrets.token_hex(8),
            }
        },
        status=status,
    )


class FakeFacebook(FakeServer):
    def __init__(self, app_id: str = "1234567890123456", app_secret: str = "fb-app-secret") -> None:
        super().__init__()
        self.app_id = app_id
        self.apps = {app_id: app_secret}
        self.users: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.key: SigningKey = make_key("RS256", 3)
        self.app.router.add_get("/{version}/debug_token", self._debug_token)
        self.app.router.add_get("/{version}/me", self._me)
        self.app.router.add_get("/.well-known/oauth/openid/jwks/", self._jwks)

    @property
    def graph_base(self) -> str:
        return f"{self.url}/v23.0"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/oauth/openid/jwks/"

    def add_user(self, user_id: str, name: str, email: str | None = None) -> None:
        self.users[user_id] = {"id": user_id, "name": name, "email": email}

    def access_token(
        self, user_id: str, *, app_id: str | None = None, expires_in: int = 3600
    ) -> str:
        """A user access token issued to `app_id` (default: our app)."""
        app = app_id or self.app_id
        self.apps.setdefault(app, f"secret-of-{app}")
        token = "EAAG" + secrets.token_urlsafe(48)
        self.tokens[token] = {"user_id": user_id, "app_id": app, "expires_at": now() + expires_in}
        return token

    async def _jwks(self, _request: web.Request) -> web.Response:
        return jwks_response([self.key], 3600)

    async def _debug_token(self, request: web.Request) -> web.Response:
        app_token = request.query.get("access_token", "")
        app_id, _, secret = app_token.partition("|")
        if self.apps.get(app_id) != secret or not secret:
            return _graph_error("Invalid OAuth access token signature.", 190)
        info = self.tokens.get(request.query.get("input_token", ""))
        if info is None:
            return web.json_response(
                {
                    "data": {
                        "error": {"code": 190, "message": "Invalid OAuth access token."},
                        "is_valid": False,
                        "scopes": [],
                    }
                }
            )
        return web.json_response(
            {
                "data": {
                    "app_id": info["app_id"],
                    "type": "USER",
                    "application": "Live Commerce",
                    "data_access_expires_at": info["expires_at"] + 86400 * 90,
                    "expires_at": info["expires_at"],
                    "is_valid": info["expires_at"] > now(),
                    "scopes": ["email", "public_profile"],
                    "user_id": info["user_id"],
                }
            }
        )

    async def _me(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token", "")
        info = self.tokens.get(token)
        if info is None or info["expires_at"] <= now():
            return _graph_error("Error validating access token: Session has expired.", 190)
        proof = hmac.new(
            self.apps[info["app_id"]].encode(), token.encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(request.query.get("appsecret_proof", ""), proof):
            return _graph_error("Invalid appsecret_proof provided in the API argument", 100)
        user = self.users[info["user_id"]]
        fields = request.query.get("fields", "id,name").split(",")
        return web.json_response(
            {f: user[f] for f in fields if user.get(f) is not None} | {"id": user["id"]}
        )

    def limited_token(
        self,
        sub: str,
        *,
        nonce: str | None = None,
        email: str | None = None,
        name: str = "Wei Lin",
        aud: str | None = None,
        iss: str = "https://www.facebook.com",
        expires_in: int = 3600,
    ) -> str:
        """An iOS Limited Login authentication token (OIDC, RS256)."""
        claims: dict[str, Any] = {
            "iss": iss,
            "aud": aud or self.app_id,
            "sub": sub,
            "iat": now() if expires_in > 0 else now() + expires_in - 3600,
            "exp": now() + expires_in,
            "jti": secrets.token_hex(16),
            "name": name,
            "picture": "https://platform-lookaside.fbsbx.com/platform/profilepic/",
        }
        if email is not None:
            claims["email"] = email
        if nonce is not None:
            claims["nonce"] = nonce
        return self.key.sign(claims)
