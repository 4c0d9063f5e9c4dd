"""Playwright on Debian's Chromium for the page tests, plus the seed data they start from.

Playwright's own browser download cannot run here (and CI has no network beyond the package
registries), so the tests drive the `chromium` package that scripts/ensure_services.sh installs,
headless. Every page is opened with a route that refuses any request leaving this machine and
records it: the pages must work offline (no CDN), and a test fails if one tried.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Route, async_playwright

from tests.helpers.procs import REPO_ROOT

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
PHONE = {"width": 390, "height": 844}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", REPO_ROOT / "var" / "test-artifacts")) / "web"
PASSWORD = "Live-Shop-2026!"


def chromium_path() -> str:
    found = shutil.which("chromium")
    if found is None and os.access("/usr/bin/chromium", os.X_OK):
        found = "/usr/bin/chromium"
    if found is None:
        pytest.fail(
            "Debian's chromium is not installed: bash scripts/ensure_services.sh installs it",
            pytrace=False,
        )
    return found


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Offline:
    """Refuses and records every request to a host that is not this machine."""

    refused: list[str] = field(default_factory=list)

    async def route(self, route: Route) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            await route.continue_()
        else:
            self.refused.append(url)
            await route.abort()


async def phone_context(
    browser: Browser, offline: Offline, *, locale: str = "en-US"
) -> BrowserContext:
    context = await browser.new_context(
        viewport=PHONE, locale=locale, is_mobile=True, has_touch=True
    )
    await context.route("**/*", offline.route)
    return context


@dataclass
class Seed:
    seller_email: str
    stream_id: int
    product_id: int
    product_name: str
    price: str


async def seed_stream(api: str, *, currency: str = "TWD", price: str = "390.00") -> Seed:
    """A seller with one product in the lineup of a scheduled stream, made through the API."""
    email = f"host-{uuid.uuid4().hex[:10]}@example.com"
    async with httpx.AsyncClient(base_url=f"{api}/api/v1", timeout=15) as http:
        r = await http.post(
            "/auth/register",
            json={
                "email": email,
                "password": PASSWORD,
                "display_name": "Host Mei",
                "role": "seller",
                "market": "TW" if currency == "TWD" else "TH",
            },
        )
        assert r.status_code == 201, r.text
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        name = "藍牙耳機 Aurora" if currency == "TWD" else "หูฟังบลูทูธ Aurora"
        r = await http.post(
            "/products",
            headers=auth,
            json={
                "name": name,
                "price": price,
                "currency": currency,
                "stock": 5,
            },
        )
        assert r.status_code == 201, r.text
        product_id = r.json()["id"]
        r = await http.post(
            "/streams",
            headers=auth,
            json={
                "title": "Aurora 新品直播",
                "product_ids": [product_id],
            },
        )
        assert r.status_code == 201, r.text
        return Seed(email, r.json()["id"], product_id, name, price)
