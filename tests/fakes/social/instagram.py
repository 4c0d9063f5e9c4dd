"""Fake Instagram (Instagram API with Instagram Login): the authorization-code exchange at
`POST /oauth/access_token` and `GET /{version}/me` on the Graph host (one server plays both).

The exchange checks every form field, spends the code once, and answers the documented
`{"data": [{"access_token", "user_id", "permissions"}]}`; errors look like Instagram's
`{"error_type": "OAuthException", "code": 400, "error_message": ...}`.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from tests.fakes.social.common import FakeServer


def _oauth_error(message: str) -> web.Response:
    return web.json_response(
        {"error_type": "OAuthException", "code": 400, "error_message": message}, status=400
    )


class FakeInstagram(FakeServer):
    def __init__(
        self,
        app_id: str = "990602627938098",
        app_secret: str = "ig-app-secret",
        redirect_uri: str = "https://shop.example.com/auth/instagram/",
    ) -> None:
        super().__init__()
        self.app_id, self.app_secret, self.redirect_uri = app_id, app_secret, redirect_uri
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.app.router.add_post("/oauth/access_token", self._exchange)
        self.app.router.add_get("/{version}/me", self._me)

    @property
    def graph_base(self) -> str:
        return f"{self.url}/v23.0"

    def authorization_code(self, user_id: int, username: str) -> str:
        """What Instagram appends to the redirect URI after the user approves (with `#_`)."""
        code = "AQB" + secrets.token_urlsafe(32)
        self.codes[code] = {"user_id": user_id, "username": username}
        return code + "#_"

    async def _exchange(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("client_id") != self.app_id or form.get("client_secret") != self.app_secret:
            return _oauth_error("Invalid platform app")
        if form.get("grant_type") != "authorization_code":
            return _oauth_error("Invalid grant_type")
        if form.get("redirect_uri") != self.redirect_uri:
            return _oauth_error(
                "Error validating verification code. Please make sure your "
                "redirect_uri is identical to the one you used in the OAuth "
                "dialog request"
            )
        user = self.codes.pop(str(form.get("code", "")), None)
        if user is None:
            return _oauth_error("This authorization code has been used")
        token = "IGQV" + secrets.token_urlsafe(48)
        self.tokens[token] = user
        return web.json_response(
            {
                "data": [
                    {
                        "access_token": token,
                        "user_id": user["user_id"],
                        "permissions": "instagram_business_basic",
                    }
                ]
            }
        )

    async def _me(self, request: web.Request) -> web.Response:
        user = self.tokens.get(request.query.get("access_token", ""))
        if user is None:
            return web.json_response(
                {
                    "error": {
                        "message": "Invalid OAuth access token - Cannot parse access token",
                        "type": "OAuthException",
                        "code": 190,
                        "fbtrace_id": secrets.token_hex(8),
                    }
                },
                status=400,
            )
        profile = {
            "id": str(user["user_id"]),
            "user_id": str(17841400000000000 + user["user_id"] % 1000),
            "username": user["username"],
        }
        fields = request.query.get("fields", "id").split(",")
        body = {f: profile[f] for f in fields if f in profile} | {"id": profile["id"]}
        return web.json_response(body)
