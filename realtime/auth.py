"""Connect-time authentication: access token -> Principal, or a guest when there is none.

Only the public key is needed here (ES256). Revocation is honoured by checking the same Redis
marks commerce writes (`shared.tokens.is_revoked`: the `jti` denylist on logout, the per-user
"revoked before" mark, the refresh-family mark on logout and refresh-token reuse); sockets already
open are dropped through the relayed `user.tokens_revoked` event. The gateway has no database:
while the marks are not restored into a restarted Redis, a signed-in connect is refused with
`unavailable` (retry) rather than let through on marks that may be missing.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from realtime.revocations import RevocationChecks
from shared.errors import Unauthorized
from shared.tokens import Principal, TokenVerifier, is_revoked


async def authenticate(
    auth: Any,
    *,
    verifier: TokenVerifier,
    redis: aioredis.Redis,
    revocations: RevocationChecks | None = None,
) -> Principal | None:
    """None for a guest; raises Unauthorized for a bad, expired or revoked token.

    `revocations` batches the revocation check with other connects' (a join storm); without it
    the check is a call of its own."""
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
    revoked = (
        await revocations.is_revoked(principal) if revocations is not None
        else await is_revoked(redis, principal)
    )
    if revoked:
        raise Unauthorized("token revoked")
    return principal
