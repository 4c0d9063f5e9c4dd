"""The API with its payment providers on their local sandboxes: on MariaDB and Redis (the
suite's stack), and on the embedded default (SQLite file, in-process Redis stand-in and
tasks), both served in-process through ASGI as the tests elsewhere do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from commerce.context import AppContext
from shared.settings import CommerceSettings
from tests.conftest import app_client, migrate


@pytest.fixture(params=["mariadb", "embedded"])
async def sandbox_ctx(
    request: pytest.FixtureRequest, commerce_settings: CommerceSettings, tmp_path: Path
) -> AsyncIterator[AppContext]:
    """Development settings with no provider credentials: every provider is a local sandbox."""
    update: dict[str, object] = {"app_env": "development"}
    if request.param == "mariadb":
        request.getfixturevalue("clean_db")
        request.getfixturevalue("clean_redis")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'embedded.db'}"
        await asyncio.to_thread(migrate, url)
        update.update(database_url=url, redis_url=None)
    context = AppContext.build(commerce_settings.model_copy(update=update))
    if request.param == "embedded":  # one in-process Redis stand-in per process: start empty
        await context.redis.flushall()
    yield context
    await context.close()


@pytest.fixture
async def sandbox_api(sandbox_ctx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(sandbox_ctx.settings, sandbox_ctx) as client:
        yield client
        await sandbox_ctx.inline.drain()
