"""A logged-out token stays refused across a Redis outage, a crash and a Redis that lost
everything: the revocation is kept in the database too, checked there while Redis cannot answer
for it, and restored into the new Redis by the API's RevocationGuard. The gateway, which has no
database, refuses a signed-in connect until the marks are back (never lets it through)."""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import Any

import httpx
import pytest
import socketio

from commerce.context import AppContext
from shared.tokens import family_revoked_key, revocations_restored
from tests.commerce.auth.helpers import bearer, register
from tests.faults.conftest import books
from tests.helpers.private_servers import PrivateRedis

pytestmark = pytest.mark.timeout(90)


async def _connect_error(url: str, token: str) -> str | None:
    """The connect_error code a socket.io client gets with `token`, or None if it connected."""
    client = socketio.AsyncClient(reconnection=False)
    error: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @client.on("connect_error")
    def _on_error(data: Any) -> None:
        if not error.done():
            error.set_result(data)

    try:
        await client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        detail = await asyncio.wait_for(error, 5)
        return str(detail.get("code")) if isinstance(detail, dict) else str(detail)
    await client.disconnect()
    return None


async def test_logout_survives_redis_outage_and_loss(
    fault_api: httpx.AsyncClient, fault_ctx: AppContext, fault_redis: PrivateRedis,
    fault_gateway: str,
) -> None:
    gone = await register(fault_api)
    kept = await register(fault_api)
    assert (await fault_api.get("/api/v1/users/me", headers=bearer(gone["access_token"]))
            ).status_code == 200
    assert (await fault_api.post("/api/v1/auth/logout", headers=bearer(gone["access_token"]))
            ).status_code == 204

    async def me(token: str) -> int:
        reply = await fault_api.get("/api/v1/users/me", headers=bearer(token))
        return reply.status_code

    assert await me(gone["access_token"]) == 401
    assert await _connect_error(fault_gateway, gone["access_token"]) == "unauthorized"

    # Redis down: the API asks the database.
    fault_redis.kill()
    down = (await me(gone["access_token"]), await me(kept["access_token"]))
    assert down == (401, 200)

    # Redis back with nothing (its data directory lost): refused at once, from the database,
    # and the marks are restored into the new Redis within a couple of seconds.
    shutil.rmtree(fault_redis.dir)
    fault_redis.dir.mkdir()
    await asyncio.to_thread(fault_redis.start)
    back = time.monotonic()
    right_after = (await me(gone["access_token"]), await me(kept["access_token"]))
    gateway_right_after = await _connect_error(fault_gateway, gone["access_token"])
    assert right_after == (401, 200)
    assert gateway_right_after in ("unauthorized", "unavailable")
    while not await revocations_restored(fault_ctx.redis):
        assert time.monotonic() - back < 10, "the marks were not restored"
        await asyncio.sleep(0.05)
    restored_s = time.monotonic() - back
    family = _family(gone["access_token"], fault_ctx)
    assert await fault_ctx.redis.exists(family_revoked_key(family))
    assert await me(gone["access_token"]) == 401
    assert await _connect_error(fault_gateway, gone["access_token"]) == "unauthorized"
    assert await _connect_error(fault_gateway, kept["access_token"]) is None
    books("logout across Redis loss", down=down, right_after=right_after,
          gateway_right_after=gateway_right_after, marks_restored_s=round(restored_s, 2))


def _family(token: str, ctx: AppContext) -> str:
    family = ctx.tokens.verify_access(token).family
    assert family is not None
    return family
