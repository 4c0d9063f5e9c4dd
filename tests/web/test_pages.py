"""The H5 pages and /docs in a real browser (Debian's Chromium) on `make run`'s process.

One embedded platform serves the module: the live sale journey (tests/web/journey.py), the
pages in zh_TW and th with no English left, and the offline API docs. Screenshots at phone size
go to var/test-artifacts/web/ (TEST_ARTIFACTS_DIR).
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.web.browser import ARTIFACTS, Offline, chromium, phone_context, seed_stream
from tests.web.journey import live_sale, sign_in, watch_console

pytestmark = pytest.mark.timeout(180)


async def test_live_sale_in_two_browser_contexts(api: str) -> None:
    skipped = await live_sale(api, ARTIFACTS, label="embedded")
    assert skipped == [], skipped  # every route the journey needs is on this server


async def test_pages_are_served_with_a_strict_csp(api: str) -> None:
    async with httpx.AsyncClient(base_url=api) as http:
        for path in ("/", "/watch/1", "/host/1", "/docs", "/redoc"):
            r = await http.get(path)
            assert r.status_code == 200, path
            csp = r.headers["content-security-policy"]
            script_src = next(d for d in csp.split("; ") if d.startswith("script-src "))
            assert script_src == "script-src 'self'", csp
            assert "<script>" not in r.text and "onclick=" not in r.text, path
        assert (await http.get("/watch/0")).json()["error"]["code"] == "invalid"
        assert (await http.get("/assets/vendor/socket.io.esm.min.js")).status_code == 200


async def english_left(page: Page, skip: str = "#lang") -> list[str]:
    """English UI strings visible on the page (values of the en catalogue found in its text)."""
    return list(
        await page.evaluate(
            """async (skip) => {
          const { MESSAGES } = await import('/assets/js/i18n.js');
          const clone = document.body.cloneNode(true);
          for (const node of clone.querySelectorAll(skip)) node.remove();
          // innerText of hidden nodes is empty only when laid out: use the live page's.
          const text = document.body.innerText;
          const locale = document.documentElement.lang === 'th-TH' ? 'th' : 'zh_TW';
          const found = [];
          for (const [key, english] of Object.entries(MESSAGES.en)) {
            const mine = MESSAGES[locale][key];
            const words = english.replace(/\\{\\w+\\}/g, '').trim();
            if (words.length < 3 || (mine && mine.includes(words))) continue;
            if (text.includes(words)) found.push(`${key}: ${words}`);
          }
          return found;
        }""",
            skip,
        )
    )


@pytest.mark.parametrize(("locale", "tag"), [("zh_TW", "zh-TW"), ("th", "th-TH")])
async def test_pages_in_zh_tw_and_th_show_no_english(api: str, locale: str, tag: str) -> None:
    seed = await seed_stream(
        api,
        currency="TWD" if locale == "zh_TW" else "THB",
        price="390.00" if locale == "zh_TW" else "990.00",
    )
    offline = Offline()
    problems: list[str] = []
    async with chromium() as browser:
        # The browser's language picks the page's (no ?lang=, nothing chosen yet).
        host = await (await phone_context(browser, offline, locale=tag)).new_page()
        viewer = await (await phone_context(browser, offline, locale=tag)).new_page()
        watch_console(host, problems)
        watch_console(viewer, problems)

        await viewer.goto(f"{api}/")
        await expect(viewer.locator(f'[data-stream-id="{seed.stream_id}"]')).to_be_visible()
        assert await english_left(viewer) == []

        await host.goto(f"{api}/host/{seed.stream_id}")
        await expect(host.locator("form.auth")).to_be_visible()
        assert await english_left(host) == []
        await sign_in(host, seed.seller_email)
        await expect(host.locator("#console")).to_be_visible()
        await host.locator("#flash-seconds").select_option("300")  # pinned as a flash sale
        await host.locator(f'#lineup li[data-product-id="{seed.product_id}"] button').click()
        await expect(host.locator("#lineup li.pinned")).to_have_count(1)
        assert await english_left(host) == []

        await viewer.goto(f"{api}/watch/{seed.stream_id}")
        await expect(viewer.locator("#pinned")).to_be_visible()
        # Each market writes its own currency as it does at home (zh-TW: "$", th: "฿").
        price = "$390.00" if locale == "zh_TW" else "฿990.00"
        await expect(viewer.locator("#pin-price")).to_have_text(price)
        await expect(viewer.locator("#pin-flash")).to_contain_text(re.compile(r"[0-4]:[0-5]\d"))
        await viewer.locator("#buy").click()  # not signed in: the inline sign-up form
        await expect(viewer.locator("#sheet form.auth")).to_be_visible()
        assert await english_left(viewer) == []
        await viewer.locator("#sheet .close").click()
        await viewer.screenshot(path=ARTIFACTS / f"embedded-viewer-{locale}.png")

        # Switching language in the header re-renders in place.
        await viewer.locator("#lang").select_option("en")
        await expect(viewer.locator("#buy")).to_have_text("Buy")
    assert not problems, problems
    assert not offline.refused, offline.refused


async def test_docs_and_redoc_render_offline(api: str) -> None:
    offline = Offline()
    problems: list[str] = []
    async with chromium() as browser:
        page = await (await phone_context(browser, offline)).new_page()
        watch_console(page, problems)
        await page.goto(f"{api}/docs")
        operations = page.locator(".opblock-summary")
        await expect(operations.first).to_be_visible(timeout=15_000)
        assert await operations.count() > 20
        orders = page.locator(".opblock-summary-path", has_text="/api/v1/orders")
        await expect(orders.first).to_be_visible()
        await page.goto(f"{api}/redoc")
        await expect(page.locator("h1", has_text="Live Commerce API")).to_be_visible(timeout=15_000)
        await expect(page.get_by_text("/api/v1/orders").first).to_be_attached()
    assert not problems, problems
    assert not offline.refused, offline.refused
