"""LINE Pay Online API v3 sandbox: request, the shopper's approval, check, confirm, refund.

As documented (developers-pay.line.me, Online API v3): every call carries
`X-LINE-ChannelId`, `X-LINE-Authorization-Nonce` and `X-LINE-Authorization` (HMAC-SHA256);
replies are `{returnCode, returnMessage, info}` with 19-digit transaction ids as exact JSON
integers. `request` answers `info.paymentUrl.web`; once the shopper approves, LINE Pay calls
the merchant's `confirmUrl` with `?transactionId=&orderId=` (the notification: unsigned, so
our adapter checks it with `GET /v3/payments/requests/{id}/check`), and the merchant captures
with `confirm`. A cancelled payment sends the shopper to `cancelUrl` and notifies nothing.
`refund` takes an optional `refundAmount` (partial refunds).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from commerce.payment_wire import linepay_sign
from commerce.payment_wire.wire_errors import WireFormatError
from commerce.sandbox.payments.base import Completion, Outcome, ProviderSandbox, deliver
from shared.config.payments import LinepaySettings

TXN_BASE = 2024120000000000000  # 19 digits, beyond a float's exact integers
CHECK_CODES = {"reserved": "0000", "approved": "0110", "confirmed": "0123",
               "refunded": "0123", "cancelled": "0121"}


def _reply(code: str, message: str = "Success.", info: Any = None) -> Response:
    body: dict[str, Any] = {"returnCode": code, "returnMessage": message}
    if info is not None:
        body["info"] = info
    return Response(linepay_sign.dumps(body), media_type="application/json")


class LinepaySandbox(ProviderSandbox):
    name = "linepay"
    title = "LINE Pay"

    @property
    def account(self) -> LinepaySettings:
        """The account the adapter is configured with: the sandbox checks the same one."""
        return self.settings.payments.linepay

    def api_routes(self) -> list[BaseRoute]:
        return [
            Route("/v3/payments/request", self._request, methods=["POST"]),
            Route("/v3/payments/requests/{txn:int}/check", self._check, methods=["GET"]),
            Route("/v3/payments/{txn:int}/confirm", self._confirm, methods=["POST"]),
            Route("/v3/payments/{txn:int}/refund", self._refund, methods=["POST"]),
        ]

    async def _signed(self, request: Request) -> Any:
        """The request's JSON body (or {} for a GET) if its signature verifies, else None."""
        body = await request.body()
        signed = body.decode() if request.method == "POST" else request.url.query
        path = request.url.path.removeprefix(f"/sandbox/payments/{self.name}")
        channel = request.headers.get(linepay_sign.HEADER_CHANNEL_ID)
        if channel != self.account.channel_id or not linepay_sign.verify_signature(
            self.account.channel_secret.get_secret_value(), path, signed,
            request.headers.get(linepay_sign.HEADER_NONCE, ""),
            request.headers.get(linepay_sign.HEADER_SIGNATURE, ""),
        ):
            return None
        try:
            return linepay_sign.loads(body) if body else {}
        except WireFormatError:
            return None

    async def _known(self, request: Request) -> tuple[Any, str, dict[str, Any]] | Response:
        """(signed body, ref, trade) of a call about `{txn}`, or LINE Pay's error answer."""
        asked = await self._signed(request)
        if asked is None:
            return _reply("1106", "Header information error.")
        found = await self.trade_by("txn", str(request.path_params["txn"]))
        if found is None:
            return _reply("1150", "Transaction record not found.")
        return asked, *found

    async def _request(self, request: Request) -> Response:
        payload = await self._signed(request)
        if payload is None:
            return _reply("1106", "Header information error.")
        ref = str(payload.get("orderId", ""))
        if not ref or await self.trade(ref) is not None:
            return _reply("1172", "Existing same orderId.")
        txn = TXN_BASE + await self.store.next_id(self.name)
        products = (payload.get("packages") or [{}])[0].get("products") or [{}]
        await self.save(ref, {
            "txn": txn, "state": "reserved", "amount": str(payload["amount"]),
            "currency": payload["currency"], "description": products[0].get("name", ""),
            "redirect": payload.get("redirectUrls") or {}, "refunded": "0",
        })
        await self.remember("txn", str(txn), ref)
        return _reply("0000", info={
            "paymentUrl": {"web": self.pay_url(ref), "app": self.pay_url(ref)},
            "transactionId": txn, "paymentAccessToken": f"{txn % 10**12:012d}"})

    async def _check(self, request: Request) -> Response:
        known = await self._known(request)
        if isinstance(known, Response):
            return known
        return _reply(CHECK_CODES[known[2]["state"]])

    async def _confirm(self, request: Request) -> Response:
        known = await self._known(request)
        if isinstance(known, Response):
            return known
        asked, ref, trade = known
        if trade["state"] != "approved":
            return _reply("1172", "Existing same orderId.")
        try:
            same = Decimal(str(asked.get("amount"))) == Decimal(trade["amount"])
        except InvalidOperation:
            same = False
        if not same or asked.get("currency") != trade["currency"]:
            return _reply("1124", "Amount info error (scale).")
        trade["state"] = "confirmed"
        await self.save(ref, trade)
        return _reply("0000", info={
            "orderId": ref, "transactionId": trade["txn"],
            "payInfo": [{"method": "BALANCE", "amount": Decimal(trade["amount"])}]})

    async def _refund(self, request: Request) -> Response:
        known = await self._known(request)
        if isinstance(known, Response):
            return known
        asked, ref, trade = known
        if trade["state"] not in ("confirmed", "refunded"):
            return _reply("1165", "A transaction has already been refunded.")
        left = Decimal(trade["amount"]) - Decimal(trade["refunded"])
        try:
            amount = Decimal(str(asked.get("refundAmount", left)))
        except InvalidOperation:
            amount = Decimal(-1)
        if left <= 0:
            return _reply("1165", "A transaction has already been refunded.")
        if not 0 < amount <= left:
            return _reply("1155", "Refund amount is invalid.")
        trade["refunded"] = str(Decimal(trade["refunded"]) + amount)
        trade["state"] = "refunded" if amount == left else "confirmed"
        await self.save(ref, trade)
        refund_txn = TXN_BASE + await self.store.next_id(self.name)
        return _reply("0000", info={"refundTransactionId": refund_txn,
                                    "refundTransactionDate": "2024-12-01T12:00:00Z"})

    async def complete(self, app: ASGIApp, ref: str, outcome: Outcome) -> Completion:
        trade, again = await self.decide(ref, outcome)
        redirect = trade["redirect"]
        if outcome == "failed":
            if not again:
                trade.update(outcome=outcome, state="cancelled")
                await self.save(ref, trade)
            return Completion(None, redirect.get("cancelUrl", ""), redelivered=again)
        if not again:
            trade.update(outcome=outcome, state="approved")
            await self.save(ref, trade)
        confirm = redirect["confirmUrl"]
        query = urlencode({"transactionId": trade["txn"], "orderId": ref})
        sent = await deliver(app, f"{confirm}{'&' if '?' in confirm else '?'}{query}",
                             method="GET")
        return Completion(sent.status, sent.location or self.settings.payments.return_url,
                          redelivered=again)
