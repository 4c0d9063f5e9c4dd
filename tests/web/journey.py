"""The live sale in two browser contexts, as a host and a shopper would run it.

One function, so the same journey runs on `make run`'s process and through nginx in front of
`make cluster`. Steps that need a route another branch provides (going live, the payment
sandbox) are taken when the server's OpenAPI document lists that route; the journey returns
which ones it could not take, and the caller decides what that means.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from playwright.async_api import ConsoleMessage, Page, expect

from tests.web.browser import PASSWORD, Offline, chromium, phone_context, seed_stream

PLAYING = """() => {
  const v = document.querySelector('#video');
  return v.readyState >= 2 && !v.paused && v.currentTime > 0.5;
}"""


# ReDoc's attribution logo is hard-wired to its CDN; /redoc's CSP refuses it (and ReDoc then
# hides the image), so the docs stay on this machine. The one refusal expected.
EXPECTED_REFUSALS = ("https://cdn.redoc.ly/redoc/logo-mini.svg",)


def watch_console(page: Page, problems: list[str]) -> None:
    """Page errors and CSP refusals fail the journey (they would break the page for people)."""

    def on_console(message: ConsoleMessage) -> None:
        text = message.text
        refused = message.type == "error" and "Content Security Policy" in text
        if refused and not any(url in text for url in EXPECTED_REFUSALS):
            problems.append(f"{page.url}: {text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"{page.url}: {exc}"))


async def routes(base: str) -> set[str]:
    async with httpx.AsyncClient(timeout=15) as http:
        return set((await http.get(f"{base}/openapi.json")).json()["paths"])


async def provider_connected(base: str, stream_id: int) -> None:
    """Cloudflare's live-input "connected" notification, as Cloudflare sends it (shared
    `cf-webhook-auth` secret; the development default here)."""
    async with httpx.AsyncClient(base_url=f"{base}/api/v1", timeout=15) as http:
        hls = (await http.get(f"/streams/{stream_id}")).json()["playback"]["hls_url"]
        uid = hls.split("/")[-2]  # /api/v1/sandbox/video/{live input uid}/live.m3u8
        r = await http.post(
            "/webhooks/cloudflare-stream",
            headers={"cf-webhook-auth": "dev-notification-secret"},
            json={
                "name": "live input connected",
                "text": "live input connected",
                "data": {"input_id": uid, "event_type": "live_input.connected"},
                "ts": int(time.time()),
            },
        )
        assert r.status_code == 204, r.text


async def sign_in(page: Page, email: str) -> None:
    form = page.locator("form.auth")
    await form.locator("button.link").click()  # "I already have an account"
    await form.locator("input[name=email]").fill(email)
    await form.locator("input[name=password]").fill(PASSWORD)
    await form.locator("button[type=submit]").click()


async def register(page: Page, name: str, email: str) -> None:
    form = page.locator("form.auth")
    await form.locator("input[name=display_name]").fill(name)
    await form.locator("input[name=email]").fill(email)
    await form.locator("input[name=password]").fill(PASSWORD)
    await form.locator("button[type=submit]").click()


async def live_sale(base: str, shots: Path, *, label: str) -> list[str]:
    """Run the journey against `base`; returns the steps skipped for want of a route."""
    shots.mkdir(parents=True, exist_ok=True)
    available = await routes(base)
    skipped: list[str] = []
    seed = await seed_stream(base)
    sid = seed.stream_id
    offline = Offline()
    problems: list[str] = []
    async with chromium() as browser:
        host = await (await phone_context(browser, offline)).new_page()
        viewer = await (await phone_context(browser, offline)).new_page()
        watch_console(host, problems)
        watch_console(viewer, problems)

        # The host signs in on the console; the shopper opens the waiting room as a guest.
        await host.goto(f"{base}/host/{sid}")
        await sign_in(host, seed.seller_email)
        await expect(host.locator("#console")).to_be_visible()
        await expect(host.locator("#status")).to_have_text("Starting soon")
        await viewer.goto(f"{base}/watch/{sid}")
        await expect(viewer.locator("#title")).to_have_text("Aurora 新品直播")
        await expect(viewer.locator("#stage")).to_have_attribute("data-mode", "still")

        # Going live: Go live before the encoder is refused (409 encoder_not_connected, shown
        # to the host); the sandbox encoder connects, and the provider's "connected"
        # notification takes the stream live; the viewer sees the video play.
        if "/api/v1/streams/{stream_id}/start" in available:
            await host.locator("#go-live").click()
            await expect(host.locator("#control-error")).to_have_text(
                "Your encoder is not connected yet."
            )
            await host.locator("#encoder").click()
            await expect(host.locator("#status")).to_have_text("LIVE", timeout=5000)
            await expect(host.locator("#go-live")).to_be_hidden()
        else:
            # Without the route, the provider's own "connected" notification takes it live.
            await provider_connected(base, sid)
            await expect(host.locator("#status")).to_have_text("LIVE", timeout=5000)
            skipped.append("the host's Go live button (POST /streams/{id}/start)")
        # The first relayed event after a start waits for a gateway to take the relay lease.
        await expect(viewer.locator("#status")).to_have_text("LIVE", timeout=10_000)
        await expect(viewer.locator("#stage")).to_have_attribute("data-mode", "video")
        await viewer.wait_for_function(PLAYING, timeout=20_000)

        # Chat both ways: the shopper signs up inline to chat.
        await viewer.locator("#chat-signin").click()
        await register(viewer, "Nok", f"nok-{time.time_ns()}@example.com")
        await expect(viewer.locator("#chat-form")).to_be_visible()
        await viewer.locator("#chat-input").fill("請問有現貨嗎")
        await viewer.locator("#chat-form button[type=submit]").click()
        await expect(host.locator("#chat li", has_text="請問有現貨嗎")).to_be_visible()
        await host.locator("#chat-input").fill("有的 馬上置頂")
        await host.locator("#chat-form button[type=submit]").click()
        await expect(viewer.locator("#chat li", has_text="有的 馬上置頂")).to_be_visible()

        # A reaction comes back to the room as a burst over the video.
        await viewer.locator('[data-kind="heart"]').click()
        await expect(viewer.locator("#bursts .burst").first).to_be_attached(timeout=3000)

        # The pin reaches the shopper within a second.
        pin = host.locator(f'#lineup li[data-product-id="{seed.product_id}"] button')
        started = time.monotonic()
        await pin.click()
        await expect(viewer.locator("#pinned")).to_be_visible(timeout=1000)
        pinned_after = time.monotonic() - started
        assert pinned_after < 1.0, f"pin took {pinned_after:.2f} s to reach the viewer"
        await expect(viewer.locator("#pin-name")).to_have_text(seed.product_name)
        await expect(viewer.locator("#pin-price")).to_have_text("NT$390.00")
        await expect(viewer.locator("#pin-stock")).to_have_text("5 left")

        # Buy: address, method, an order with an Idempotency-Key, then the payment action.
        await viewer.locator("#buy").click()
        form = viewer.locator("form.order-form")
        for name, value in {
            "name": "Nok Chen",
            "phone": "0912345678",
            "line1": "No. 7, Sec. 1",
            "city": "Taipei",
            "postal_code": "100",
        }.items():
            await form.locator(f"input[name={name}]").fill(value)
        await form.locator("select[name=method]").select_option("ecpay")
        await form.locator("button[type=submit]").click()
        state = viewer.locator("#order-state")
        await expect(state).to_have_text("Waiting for payment…")
        await expect(viewer.locator("#pin-stock")).to_have_text("4 left", timeout=3000)
        await viewer.screenshot(path=shots / f"{label}-viewer-pay.png")

        if "/api/v1/sandbox/payments/{payment_id}" in available:
            await viewer.locator("#sandbox-pay").click()
            await expect(state).to_have_attribute("data-status", "paid", timeout=10_000)
            await expect(state).to_have_text("Paid. Thank you!")
            # The host sees the order to ship and the numbers move.
            await expect(host.locator("#orders li")).to_have_count(1, timeout=10_000)
            await expect(host.locator("#n-orders")).to_have_text("1", timeout=10_000)
            await expect(host.locator("#n-gmv")).to_contain_text("390", timeout=10_000)
        else:
            skipped.append("pay in the sandbox (POST /sandbox/payments/{id}) and see paid")

        await viewer.locator("#sheet .close").click()
        await viewer.screenshot(path=shots / f"{label}-viewer.png")
        await host.screenshot(path=shots / f"{label}-host.png", full_page=True)
    assert not problems, problems
    assert not offline.refused, f"requests left the machine: {offline.refused}"
    return skipped
