"""The payment return page: where the sandbox (or a provider) sends the shopper, and the
status it follows to `paid` without a reload."""

from __future__ import annotations

import httpx
import pytest

from commerce.context import AppContext
from tests.commerce.sandbox.test_payment_sandbox import SANDBOX, start_payment, wait_status

# Backend-independent behaviour: MariaDB and Redis only (the CI time budget).
pytestmark = pytest.mark.parametrize("sandbox_ctx", ["mariadb"], indirect=True)



async def test_return_page_follows_the_order_to_paid(
    sandbox_api: httpx.AsyncClient, sandbox_ctx: AppContext
) -> None:
    order, payment, buyer, _ = await start_payment(sandbox_api, sandbox_ctx, "twoc2p", "THB")
    settled = await sandbox_api.post(f"{SANDBOX}/{payment['payment_id']}",
                                     json={"outcome": "paid"}, headers=buyer)
    assert settled.status_code == 200
    # Where 2C2P's sandbox sends the browser: our return page, with our reference in it.
    box = f"/sandbox/payments/twoc2p/pay/{_ref(payment)}"
    chosen = await sandbox_api.post(box, data={"outcome": "paid"})
    assert chosen.status_code == 303
    back = httpx.URL(chosen.headers["location"])
    assert back.path == "/payments/return" and back.params["ref"]

    page = await sandbox_api.get(back.path, params=back.params)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert '<script src="/payments/return.js"' in page.text and "<script>" not in page.text
    script = await sandbox_api.get("/payments/return.js")
    assert script.status_code == 200 and "/api/v1/payments/status?ref=" in script.text
    assert (await sandbox_api.get("/payments/return.css")).status_code == 200
    assert (await sandbox_api.get("/payments/elsewhere.js")).status_code == 404

    await wait_status(sandbox_ctx, order["id"], "paid")
    status = await sandbox_api.get("/api/v1/payments/status", params={"ref": back.params["ref"]})
    assert status.status_code == 200
    assert status.json() == {
        "payment_id": payment["payment_id"], "order_id": order["id"], "status": "succeeded",
        "order_status": "paid", "method": "twoc2p", "amount": "258.00", "currency": "THB",
    }


def _ref(payment: dict[str, object]) -> str:
    url = httpx.URL(str(payment["action"]["url"]))  # type: ignore[index]
    return url.path.rsplit("/", 1)[1]


async def test_status_before_paying_and_for_unknown_references(
    sandbox_api: httpx.AsyncClient, sandbox_ctx: AppContext
) -> None:
    _, payment, _, _ = await start_payment(sandbox_api, sandbox_ctx, "ecpay", "TWD")
    ref = payment["action"]["fields"]["MerchantTradeNo"]
    pending = await sandbox_api.get("/api/v1/payments/status", params={"ref": ref})
    assert pending.json()["status"] == "pending"
    assert pending.json()["order_status"] == "pending_payment"
    unknown = await sandbox_api.get("/api/v1/payments/status", params={"ref": "LC00"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    bad = await sandbox_api.get("/api/v1/payments/status", params={"ref": "x' or 1=1"})
    assert bad.status_code == 422
