"""Hostile-input regression tests: the API on its real uvicorn server, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from commerce.context import AppContext
from shared.settings import CommerceSettings
from tests.helpers.live_api import live_api


@pytest.fixture
async def http(
    commerce_settings: CommerceSettings, ctx: AppContext
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client bound to the API served on a real socket."""
    async with live_api(commerce_settings, ctx) as base, httpx.AsyncClient(base_url=base) as client:
        yield client
