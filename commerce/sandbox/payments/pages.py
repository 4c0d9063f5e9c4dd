"""The sandbox's checkout page: what a provider's hosted page would be, reduced to a choice.

Plain HTML with one form and two buttons (no script, no inline style, nothing fetched), so it
works offline and under a strict Content-Security-Policy.
"""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

CSP = "default-src 'none'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"


def choose_page(*, provider: str, ref: str, amount: str, currency: str, description: str,
                action_url: str, qr_png_base64: str | None = None) -> HTMLResponse:
    """The page where a person decides the sandbox payment's outcome."""
    qr = (
        f'<p><img alt="QR code" src="data:image/png;base64,{escape(qr_png_base64)}"></p>'
        if qr_png_base64 else ""
    )
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(provider)} sandbox</title></head>
<body>
<h1>{escape(provider)} sandbox</h1>
<p>Development only: no money moves. The provider's signed notification is sent to the
platform when you choose.</p>
<dl><dt>Reference</dt><dd>{escape(ref)}</dd>
<dt>Amount</dt><dd>{escape(amount)} {escape(currency)}</dd>
<dt>Description</dt><dd>{escape(description)}</dd></dl>
{qr}
<form method="post" action="{escape(action_url)}">
<button type="submit" name="outcome" value="paid">Pay</button>
<button type="submit" name="outcome" value="failed">Fail the payment</button>
</form>
</body></html>
"""
    return HTMLResponse(body, headers={"Content-Security-Policy": CSP,
                                       "Cache-Control": "no-store"})


def error_page(message: str, status_code: int = 400) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><body><p>{escape(message)}</p></body></html>",
        status_code=status_code, headers={"Content-Security-Policy": CSP},
    )
