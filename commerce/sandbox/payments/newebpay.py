"""NewebPay MPG sandbox: the encrypted checkout form, `NotifyURL` delivery, card refunds.

As in NewebPay's MPG manual (v2.0): the browser posts `MerchantID`, `TradeInfo` (AES-256-CBC
of the query string), `TradeSha` and `Version` to `/MPG/mpg_gateway`; `NotifyURL` receives
`Status`, `MerchantID`, `Version`, `TradeInfo` (AES of the JSON result) and `TradeSha`, and
the shopper returns to `ReturnURL`. `/API/CreditCard/Close` (`CloseType=2`) takes
`MerchantID_` + `PostData_` and refunds all or part of the amount, answering JSON.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from commerce.payment_wire.newebpay_crypto import (
    decrypt,
    encrypt,
    trade_sha,
    verify_trade_sha,
)
from commerce.payment_wire.phpurl import php_build_query
from commerce.sandbox.payments.base import (
    Completion,
    Outcome,
    ProviderSandbox,
    deliver,
    refundable,
)
from commerce.sandbox.payments.pages import error_page
from shared.config.payments import NewebpaySettings

TAIPEI = ZoneInfo("Asia/Taipei")


class NewebpaySandbox(ProviderSandbox):
    name = "newebpay"
    title = "NewebPay"

    @property
    def account(self) -> NewebpaySettings:
        """The account the adapter is configured with: the sandbox checks the same one."""
        return self.settings.payments.newebpay

    def api_routes(self) -> list[BaseRoute]:
        return [
            Route("/MPG/mpg_gateway", self._mpg, methods=["POST"]),
            Route("/API/CreditCard/Close", self._close, methods=["POST"]),
        ]

    @property
    def _keys(self) -> tuple[str, str]:
        return (self.account.hash_key.get_secret_value(),
                self.account.hash_iv.get_secret_value())

    async def _mpg(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        info, sha = form.get("TradeInfo", ""), form.get("TradeSha", "")
        if form.get("MerchantID") != self.account.merchant_id or not verify_trade_sha(
            info, sha, *self._keys
        ):
            return error_page("MPG03009 TradeSha error")
        params = dict(parse_qsl(decrypt(info, *self._keys), keep_blank_values=True))
        return await self.checkout_page(params["MerchantOrderNo"], {
            "params": params, "amount": params["Amt"], "currency": "TWD",
            "description": params.get("ItemDesc", ""), "refunded": 0})

    async def complete(self, app: ASGIApp, ref: str, outcome: Outcome) -> Completion:
        trade, again = await self.decide(ref, outcome)
        params = trade["params"]
        if not again:
            seq = await self.store.next_id(self.name)
            pay_time = datetime.now(UTC).astimezone(TAIPEI).strftime("%Y-%m-%d %H:%M:%S")
            trade.update(outcome=outcome, trade_no=f"{24120000000000 + seq}", pay_time=pay_time)
            await self.save(ref, trade)
        status = "SUCCESS" if outcome == "paid" else "MPG03008"
        result = {
            "Status": status,
            "Message": "授權成功" if outcome == "paid" else "授權失敗",
            "Result": {
                "MerchantID": self.account.merchant_id, "Amt": int(params["Amt"]),
                "TradeNo": trade["trade_no"], "MerchantOrderNo": ref, "PaymentType": "CREDIT",
                "RespondType": "JSON", "PayTime": trade["pay_time"], "IP": "127.0.0.1",
                "EscrowBank": "HNCB",
            },
        }
        info = encrypt(json.dumps(result, ensure_ascii=False), *self._keys)
        form = [("Status", status), ("MerchantID", self.account.merchant_id),
                ("Version", "2.0"), ("TradeInfo", info),
                ("TradeSha", trade_sha(info, *self._keys))]
        code = await deliver(app, params["NotifyURL"], content=php_build_query(form).encode(),
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        back = params.get("ReturnURL") if outcome == "paid" else params.get("ClientBackURL")
        return Completion(code.status, back or params.get("ReturnURL", ""), redelivered=again)

    async def _close(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        if form.get("MerchantID_") != self.account.merchant_id:
            return JSONResponse({"Status": "TRA10002", "Message": "MerchantID_ error"})
        try:
            params = dict(parse_qsl(decrypt(form["PostData_"], *self._keys)))
        except (KeyError, ValueError):
            return JSONResponse({"Status": "TRA10001", "Message": "PostData_ error"})
        ref = params.get("MerchantOrderNo", "")
        trade = await self.trade(ref)
        if trade is None or trade.get("outcome") != "paid" or params.get("CloseType") != "2":
            return JSONResponse({"Status": "TRA10021", "Message": "查無交易"})
        amount = refundable(params.get("Amt", ""), trade)
        if amount is None:
            return JSONResponse({"Status": "TRA10035", "Message": "退款金額錯誤"})
        trade["refunded"] += amount
        await self.save(ref, trade)
        return JSONResponse({"Status": "SUCCESS", "Message": "退款成功", "Result": {
            "MerchantID": self.account.merchant_id, "Amt": amount,
            "MerchantOrderNo": ref, "TradeNo": trade["trade_no"]}})
