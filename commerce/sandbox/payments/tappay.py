"""TapPay sandbox: Pay by Prime with 3-D Secure, the backend notify, Record API, refunds.

As on docs.tappaysdk.com: calls are JSON with `x-api-key` and `partner_key`; `pay-by-prime`
with `three_domain_secure` answers `status` 0, `rec_trade_id` and a `payment_url`; the result
is posted as JSON to `result_url.backend_notify_url` and the shopper is sent to
`frontend_redirect_url` with `rec_trade_id`, `order_number` and `status`. The Record API
answers `trade_records` with `record_status`; `refund` takes `rec_trade_id` and an optional
`amount` (partial refunds). Any non-empty prime is accepted, as the contract says.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from commerce.payment_wire import exactjson
from commerce.payment_wire.wire_errors import WireFormatError
from commerce.sandbox.payments.base import Completion, Outcome, ProviderSandbox, deliver
from shared.config.payments import TappaySettings

# record_status by sandbox state (see commerce/payments/gateways/tappay.py)
RECORD_STATUS = {"pending": 4, "paid": 1, "failed": -1, "partly_refunded": 2, "refunded": 3}


def _json(body: dict[str, Any]) -> Response:
    return Response(exactjson.dumps(body), media_type="application/json")


class TappaySandbox(ProviderSandbox):
    name = "tappay"
    title = "TapPay"

    @property
    def account(self) -> TappaySettings:
        """The account the adapter is configured with: the sandbox checks the same one."""
        return self.settings.payments.tappay

    def api_routes(self) -> list[BaseRoute]:
        return [
            Route("/tpc/payment/pay-by-prime", self._pay_by_prime, methods=["POST"]),
            Route("/tpc/transaction/query", self._query, methods=["POST"]),
            Route("/tpc/transaction/refund", self._refund, methods=["POST"]),
        ]

    async def _body(self, request: Request) -> dict[str, Any] | None:
        """The JSON body when both `x-api-key` and `partner_key` are the partner key."""
        key = self.account.partner_key.get_secret_value()
        try:
            body = exactjson.loads(await request.body())
        except WireFormatError:
            return None
        if not isinstance(body, dict) or request.headers.get("x-api-key") != key or body.get(
            "partner_key"
        ) != key:
            return None
        return body

    async def _pay_by_prime(self, request: Request) -> Response:
        body = await self._body(request)
        if body is None:
            return _json({"status": 4, "msg": "Authentication Error: partner_key"})
        ref, amount = str(body.get("order_number", "")), body.get("amount")
        result_url = body.get("result_url") or {}
        if not body.get("prime") or body.get("merchant_id") != self.account.merchant_id:
            return _json({"status": 121, "msg": "Invalid arguments: prime or merchant_id"})
        if not ref or not isinstance(amount, int) or amount <= 0 or not result_url.get(
            "backend_notify_url"
        ):
            return _json({"status": 121, "msg": "Invalid arguments"})
        if await self.trade(ref) is not None:
            return _json({"status": 10003, "msg": "Duplicate order_number"})
        rec = f"D{time.strftime('%Y%m%d')}{await self.store.next_id(self.name):08d}"
        await self.save(ref, {"rec": rec, "state": "pending", "amount": amount,
                              "currency": body.get("currency", "TWD"),
                              "description": body.get("details", ""), "refunded": 0,
                              "result_url": result_url})
        await self.remember("rec", rec, ref)
        return _json({"status": 0, "msg": "Success", "rec_trade_id": rec,
                      "bank_transaction_id": f"TP{rec}", "amount": amount,
                      "currency": body.get("currency", "TWD"), "order_number": ref,
                      "payment_url": self.pay_url(ref)})

    def _record(self, ref: str, trade: dict[str, Any]) -> dict[str, Any]:
        return {"record_status": RECORD_STATUS[trade["state"]], "rec_trade_id": trade["rec"],
                "merchant_id": self.account.merchant_id, "order_number": ref,
                "amount": trade["amount"], "refunded_amount": trade["refunded"],
                "currency": trade["currency"], "details": trade["description"],
                "bank_transaction_id": f"TP{trade['rec']}"}

    async def _query(self, request: Request) -> Response:
        body = await self._body(request)
        if body is None:
            return _json({"status": 4, "msg": "Authentication Error: partner_key"})
        rec = str((body.get("filters") or {}).get("rec_trade_id", ""))
        found = await self.trade_by("rec", rec)
        records = [self._record(*found)] if found else []
        return _json({"status": 0 if records else 2, "msg": "Success",
                      "records_per_page": 1, "page": 0, "total_page_count": len(records),
                      "number_of_transactions": len(records), "trade_records": records})

    async def _refund(self, request: Request) -> Response:
        body = await self._body(request)
        if body is None:
            return _json({"status": 4, "msg": "Authentication Error: partner_key"})
        found = await self.trade_by("rec", str(body.get("rec_trade_id", "")))
        if found is None:
            return _json({"status": 10005, "msg": "rec_trade_id not found"})
        ref, trade = found
        left = trade["amount"] - trade["refunded"]
        amount = body.get("amount", left)
        if trade["state"] not in ("paid", "partly_refunded") or left <= 0:
            return _json({"status": 10013, "msg": "Transaction cannot be refunded"})
        if not isinstance(amount, int) or not 0 < amount <= left:
            return _json({"status": 10014, "msg": "Refund amount is over the available amount"})
        trade["refunded"] += amount
        trade["state"] = "refunded" if amount == left else "partly_refunded"
        await self.save(ref, trade)
        return _json({"status": 0, "msg": "Success", "refund_amount": amount,
                      "refund_id": f"R{trade['rec']}{await self.store.next_id(self.name):04d}",
                      "is_captured": True, "currency": trade["currency"]})

    async def complete(self, app: ASGIApp, ref: str, outcome: Outcome) -> Completion:
        trade, again = await self.decide(ref, outcome)
        if not again:
            trade.update(outcome=outcome, state=outcome)
            await self.save(ref, trade)
        paid = outcome == "paid"
        notify = {"rec_trade_id": trade["rec"], "auth_code": "123456" if paid else "",
                  "bank_transaction_id": f"TP{trade['rec']}", "order_number": ref,
                  "amount": trade["amount"], "status": 0 if paid else 10001,
                  "msg": "Success" if paid else "Bank declined",
                  "transaction_time_millis": int(time.time() * 1000),
                  "acquirer": "TW_SANDBOX", "bank_result_code": "" if paid else "05",
                  "bank_result_msg": "" if paid else "Do not honor"}
        sent = await deliver(app, trade["result_url"]["backend_notify_url"],
                             content=exactjson.dumps(notify).encode(),
                             headers={"Content-Type": "application/json"})
        front = str(trade["result_url"].get("frontend_redirect_url", ""))
        query = urlencode({"rec_trade_id": trade["rec"], "order_number": ref,
                           "status": notify["status"]})
        return Completion(sent.status, f"{front}{'&' if '?' in front else '?'}{query}",
                          redelivered=again)
