"""The commerce API served by its real uvicorn server (`commerce.server.server_config`) on a free
port inside the test's event loop: requests cross a real socket, through the same HTTP protocol,
header limits and proxy-header handling as `python -m commerce`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn

from commerce.app import create_app
from commerce.context import AppContext
from commerce.server import server_config
from shared.settings import CommerceSettings
from tests.helpers.procs import free_port


@contextlib.asynccontextmanager
async def live_api(settings: CommerceSettings, ctx: AppContext) -> AsyncIterator[str]:
    """Yield the base URL (`http://127.0.0.1:<port>`) of a running API; stop it afterwards."""
    port = free_port()
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": port})
    server = uvicorn.Server(server_config(create_app(settings, ctx=ctx), settings, loop="none"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:
                if task.done():
                    task.result()  # surfaces the start-up error
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
