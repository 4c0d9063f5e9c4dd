"""Connect-time auth against a real gateway process with real socket.io clients."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest
import socketio

from shared.tokens import TokenIssuer, denylist_key
from tests.conftest import sync_redis_client
from tests.helpers.procs import Proc
from tests.realtime.conftest import GatewayFactory


async def connect(url: str, auth: Any = None) -> tuple[socketio.AsyncClient, Any]:
    """Connect; returns the client and the connect_error payload (None when connected)."""
    client = socketio.AsyncClient(reconnection=False)
    error: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @client.on("connect_error")
    def _on_error(data: Any) -> None:
        if not error.done():
            error.set_result(data)

    try:
        await client.connect(url, auth=auth, transports=["websocket"], wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        return client, await asyncio.wait_for(error, 5)
    return client, None


async def test_guest_connects_without_token(gateway: tuple[Proc, str]) -> None:
    client, err = await connect(gateway[1])
    assert err is None and client.connected
    await client.disconnect()


async def test_valid_token_connects(gateway: tuple[Proc, str], issuer: TokenIssuer) -> None:
    token, _ = issuer.issue_access(user_id=7, role="buyer", name="Nok")
    client, err = await connect(gateway[1], {"token": token})
    assert err is None and client.connected
    await client.disconnect()


@pytest.mark.parametrize("auth", [{"token": "garbage"}, {"token": 123}, "just-a-string"])
async def test_bad_token_is_refused_with_code(gateway: tuple[Proc, str], auth: Any) -> None:
    client, err = await connect(gateway[1], auth)
    assert not client.connected
    assert err["code"] == "unauthorized"
    assert err["data"]["code"] == "unauthorized"


async def test_revoked_token_is_refused(
    gateway: tuple[Proc, str], issuer: TokenIssuer, redis_url: str
) -> None:
    token, principal = issuer.issue_access(user_id=8, role="buyer", name="Ann")
    sync_redis_client(redis_url).set(denylist_key(principal.jti), "1", ex=300)
    _, err = await connect(gateway[1], {"token": token})
    assert err == {"message": "token revoked", "code": "unauthorized",
                   "data": {"code": "unauthorized", "message": "token revoked"}}


async def test_expired_token_is_refused(gateway: tuple[Proc, str], jwt_keys: tuple[str, str]
                                        ) -> None:
    stale = TokenIssuer(*jwt_keys, issuer="livecommerce", audience="livecommerce", ttl_s=-5)
    token, _ = stale.issue_access(user_id=9, role="buyer", name="Old")
    _, err = await connect(gateway[1], {"token": token})
    assert err["code"] == "unauthorized" and err["message"] == "token expired"


async def test_polling_transport_works(gateway_factory: GatewayFactory) -> None:
    # python-engineio's client waits for the pending long-poll on disconnect, which the server
    # answers after ping_timeout: short timings keep this test at ~3 s instead of ~25 s.
    _, url = gateway_factory(PING_INTERVAL_S="1", PING_TIMEOUT_S="2")
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, transports=["polling"], wait_timeout=5)
    assert client.transport() == "polling"
    await client.disconnect()


async def test_a_connect_burst_waits_in_the_accept_queue(gateway_factory: GatewayFactory) -> None:
    """A join storm's connections queue in the listening socket's backlog while the node is
    busy, instead of being dropped: 600 TCP connects to a node that accepts nothing for the
    moment (SIGSTOPped) all complete. With aiohttp's default backlog of 128 only 129 did, and
    the rest were refused or reset in the 10,000-client storm (BENCHMARKS.md)."""
    proc, url = gateway_factory(LISTEN_BACKLOG="1024")
    host, port = url.removeprefix("http://").split(":")
    burst = 600

    async def tcp_connect() -> asyncio.StreamWriter | None:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 3)
        except (TimeoutError, OSError):
            return None
        return writer

    os.kill(proc.pid, signal.SIGSTOP)
    try:
        writers = await asyncio.gather(*(tcp_connect() for _ in range(burst)))
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    connected = [w for w in writers if w is not None]
    for w in connected:
        w.close()
    assert len(connected) == burst, f"{burst - len(connected)} of {burst} not queued"
    client, err = await connect(url)  # and the node goes on serving
    assert err is None and client.connected
    await client.disconnect()
