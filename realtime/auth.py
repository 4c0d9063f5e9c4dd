"""Connect-time authentication: access token -> Principal, or a guest when there is none.

Only the public key is needed here (ES256). Revocation is honoured by checking the same Redis
denylist commerce writes on logout, plus the per-user "revoked before" mark written on token-family
revocation; sockets already open are dropped through the relayed `user.tokens_revoked` event.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from shared.errors import Unauthorized
from shared.tokens import Principal, TokenVerifier, denylist_key, user_revoked_before_key


async def authenticate(
    auth: Any, *, verifier: TokenVerifier, redis: aioredis.Redis
) -> Principal | None:
    """None for a guest; raises Unauthorized for a bad, expired or revoked token."""
    token: Any = None
    if isinstance(auth, dict):
        token = auth.get("token")
    elif isinstance(auth, str):
        token = auth  # some clients send the bare token
    elif auth is not None:
        raise Unauthorized("auth must be an object {token}")
    if token in (None, ""):
        return None
    if not isinstance(token, str):
        raise Unauthorized("token must be a string")
    if token.lower().startswith("bearer "):
        token = token[7:]
    principal = verifier.verify_access(token)
    denied, revoked_before = await redis.mget(
        denylist_key(principal.jti), user_revoked_before_key(principal.user_id)
    )
    if denied:
        raise Unauthorized("token revoked")
    if revoked_before and principal.issued_at <= int(revoked_before):
        raise Unauthorized("token revoked")
    return principal
