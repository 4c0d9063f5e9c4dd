"""LINE Pay Online API v3: request → redirect the shopper → confirm on return; refunds.

Docs: developers-pay.line.me/online-api (v3). `POST /v3/payments/request` answers
`info.paymentUrl.web` and a 19-digit `info.transactionId`; after the shopper approves, LINE Pay
sends them (or, with `confirmUrlType=SERVER`, calls) our confirm URL with `?transactionId=
&orderId=`. LINE Pay has no signed webhook: the return is only a hint. We verify it by asking
LINE Pay (`GET /v3/payments/requests/{id}/check`, `0110` = approved, confirmable), and the
settlement task then calls `POST /v3/payments/{id}/confirm` with the amount *we* expect —
LINE Pay refuses a confirm whose amount differs from the request. Every call is signed with
`X-LINE-Authorization` (see `linepay_sign`); transaction ids never pass through a float.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from commerce.payment_wire import linepay_sign
from commerce.payment_wire.wire_errors import SignatureMismatch, WireFormatError
from commerce.payments.errors import PaymentProviderError
from commerce.payments.gateways.base import (
    CreatedPayment,
    GatewayDefaults,
    ParsedNotification,
    PaymentRequest,
    RawNotification,
    RefundResult,
    VerifiedNotification,
    WebhookAnswer,
    send,
)
from shared.config.payments import LinepaySettings
from shared.money import to_minor

REQUEST_PATH = "/v3/payments/request"
APPROVED = "0110"  # authorized by the shopper, confirm may be called
COMPLETED = "0123"  # already confirmed (a reloaded confirm URL)
FINISHED_FAILED = {"0121", "0122"}  # cancelled / failed


def wire_amount(amount_minor: int, currency: str) -> int | Decimal:
    """LINE Pay takes TWD as whole dollars and THB with up to two decimals."""
    if currency == "TWD":
        if amount_minor % 100:
            raise ValueError("LINE Pay takes whole TWD dollars only")
        return amount_minor // 100
    value = Decimal(amount_minor) / 100
    return value.to_integral_value() if value == value.to_integral_value() else value


class LinepayGateway(GatewayDefaults):
    name = "linepay"

    def __init__(
        self, config: LinepaySettings, *, timeout_s: float = 10.0, return_url: str = ""
    ) -> None:
        self.config = config
        self._channel_secret = config.channel_secret.get_secret_value()
        # Where the shopper's browser goes after the confirm URL (confirmUrlType CLIENT).
        self.return_url = return_url
        self.timeout_s = timeout_s

    async def _call(self, method: str, path: str, payload: Any = None) -> dict[str, Any]:
        body = "" if payload is None else linepay_sign.dumps(payload)
        headers = linepay_sign.auth_headers(
            self.config.channel_id, self._channel_secret, path, body
        )
        headers["Content-Type"] = "application/json"
        async with self.client(self.config.base_url) as client:
            req = client.build_request(method, path, content=body or None, headers=headers)
            resp = await send(client, req, self.name)
        try:
            reply = linepay_sign.loads(resp.content)
        except WireFormatError as exc:
            raise PaymentProviderError(f"LINE Pay {path} answered HTTP {resp.status_code}") from exc
        if not isinstance(reply, dict) or "returnCode" not in reply:
            raise PaymentProviderError(f"LINE Pay {path} answered without a returnCode")
        return reply

    async def create_payment(self, request: PaymentRequest) -> CreatedPayment:
        amount = wire_amount(request.amount_minor, request.currency)
        payload = {
            "amount": amount,
            "currency": request.currency,
            "orderId": request.trade_no,
            "packages": [
                {
                    "id": request.trade_no,
                    "amount": amount,
                    "products": [
                        {"name": request.description[:100], "quantity": 1, "price": amount}
                    ],
                }
            ],
            "redirectUrls": {
                "confirmUrl": request.notify_url,
                "cancelUrl": request.cancel_url,
            },
        }
        reply = await self._call("POST", REQUEST_PATH, payload)
        if reply["returnCode"] != "0000":
            raise PaymentProviderError(f"LINE Pay request refused: {reply['returnCode']}")
        info = reply.get("info") or {}
        txn = linepay_sign.transaction_id(info.get("transactionId"))
        url = (info.get("paymentUrl") or {}).get("web")
        if not isinstance(url, str):
            raise PaymentProviderError("LINE Pay request reply has no paymentUrl.web")
        return CreatedPayment(action={"type": "redirect", "url": url}, provider_txn_id=str(txn))

    async def verify_notification(self, raw: RawNotification) -> VerifiedNotification:
        """Check the confirm-URL hint with LINE Pay itself (signed request, TLS answer)."""
        try:
            txn = linepay_sign.transaction_id(raw.query.get("transactionId", ""))
        except WireFormatError as exc:
            raise SignatureMismatch(str(exc)) from exc
        order_id = raw.query.get("orderId", "")
        if not order_id:
            raise SignatureMismatch("LINE Pay return lacks orderId")
        reply = await self._call("GET", f"/v3/payments/requests/{txn}/check")
        code = str(reply["returnCode"])
        if code not in (APPROVED, COMPLETED) and code not in FINISHED_FAILED:
            raise SignatureMismatch(f"LINE Pay does not confirm transaction {txn}: {code}")
        data = {"transactionId": str(txn), "orderId": order_id, "returnCode": code}
        return VerifiedNotification(self.name, data, linepay_sign.dumps(data))

    def parse_notification(self, verified: VerifiedNotification) -> ParsedNotification:
        data = verified.data
        code = data["returnCode"]
        return ParsedNotification(
            # One event per transaction's return, whatever its state: a reload is a duplicate.
            provider_event_id=f"{data['transactionId']}:return",
            provider_ref=data["orderId"],
            amount_minor=None,
            currency=None,
            status="failed" if code in FINISHED_FAILED else "authorized",
            provider_txn_id=data["transactionId"],
            raw=verified.raw,
        )

    def answer(self, parsed: ParsedNotification | None) -> WebhookAnswer:
        """The confirm URL is opened by the shopper's browser: send it on to the shop."""
        if not self.return_url or parsed is None:
            return WebhookAnswer()
        sep = "&" if "?" in self.return_url else "?"
        target = f"{self.return_url}{sep}{urlencode({'trade_no': parsed.provider_ref})}"
        return WebhookAnswer(status_code=303, body="", location=target)

    async def confirm(
        self, parsed: ParsedNotification, *, amount_minor: int, currency: str
    ) -> ParsedNotification:
        """Capture with the amount we expect; the reply's payInfo is what was actually paid."""
        if parsed.status != "authorized" or parsed.provider_txn_id is None:
            return parsed
        txn = linepay_sign.transaction_id(parsed.provider_txn_id)
        payload = {"amount": wire_amount(amount_minor, currency), "currency": currency}
        reply = await self._call("POST", f"/v3/payments/{txn}/confirm", payload)
        code = str(reply["returnCode"])
        if code != "0000":
            return replace(parsed, status="failed", raw=linepay_sign.dumps(reply))
        info = reply.get("info") or {}
        if str(info.get("orderId")) != parsed.provider_ref or linepay_sign.transaction_id(
            info.get("transactionId")
        ) != txn:
            raise SignatureMismatch("LINE Pay confirm answered for another transaction")
        paid = sum(Decimal(str(p.get("amount", 0))) for p in info.get("payInfo") or [])
        return replace(
            parsed,
            status="succeeded",
            amount_minor=to_minor(paid),
            currency=currency,
            raw=linepay_sign.dumps(reply),
        )

    async def refund(
        self, *, provider_ref: str, provider_txn_id: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        txn = linepay_sign.transaction_id(provider_txn_id or "")
        payload = {"refundAmount": wire_amount(amount_minor, currency)}
        reply = await self._call("POST", f"/v3/payments/{txn}/refund", payload)
        if reply["returnCode"] != "0000":
            raise PaymentProviderError(f"LINE Pay refund refused: {reply['returnCode']}")
        info = reply.get("info") or {}
        refund_id = linepay_sign.transaction_id(info.get("refundTransactionId"))
        return RefundResult(provider_refund_id=str(refund_id), amount_minor=amount_minor)

