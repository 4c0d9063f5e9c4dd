"""The embedded default (no REDIS_URL): the same services on fakeredis and the in-process bus."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from realtime.app import CTX
from shared import events as ev
from shared.settings import GatewaySettings
from shared.tokens import TokenIssuer, mark_revocations_restored
from tests.realtime.clients import Client, World
from tests.realtime.conftest import in_process_gateway


@pytest.fixture
async def embedded(jwt_keys: tuple[str, str]) -> AsyncIterator[tuple[str, web.Application]]:
    settings = GatewaySettings(
        app_env="test", redis_url=None, jwt_public_key=jwt_keys[1], reaction_window_ms=100,
        _env_file=None,  # type: ignore[call-arg]
    )
    async with in_process_gateway(settings) as served:
        yield served


async def test_embedded_gateway_runs_the_same_paths(
    embedded: tuple[str, web.Application], issuer: TokenIssuer, clients: list[Client]
) -> None:
    url, app = embedded
    ctx = app[CTX]
    world = World(ctx.redis, issuer)
    await ctx.redis.flushdb()
    # What the commerce API beside it in `make run` does on a new (here: flushed) Redis.
    await mark_revocations_restored(ctx.redis)
    await world.stream(1, host_id=1, product_ids=[5])
    await world.product(5, stock=3)
    host = await Client("host").connect(url, world.token(1, "Host"))
    guest = await Client("guest").connect(url)
    clients.extend([host, guest])
    await host.join(1)
    assert (await guest.join(1))["viewers"] == 2
    assert await host.call("pin", {"stream_id": 1, "product_id": 5}) == {"ok": True}
    assert (await host.call("chat", {"stream_id": 1, "text": "hi"}))["ok"]
    assert await guest.call("react", {"stream_id": 1, "kind": "clap"}) == {"ok": True}
    await ctx.bus.publish(ev.ProductSoldOut(data=ev.SoldOutData(product_id=5)))
    await guest.wait_for(lambda: guest.of("sold_out") and guest.of("reactions")
                         and guest.chats(1) and guest.of("viewers"))
    assert guest.of("reactions")[0]["counts"] == {"clap": 1}
    assert (await guest.join(1))["pinned"]["stock"] == 0
