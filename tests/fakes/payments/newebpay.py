"""Fake NewebPay MPG: checks TradeSha and decrypts what we post, signs what it sends back.

As in NewebPay's MPG manual: `/MPG/mpg_gateway` takes `MerchantID`, `TradeInfo`, `TradeSha`,
`Version`; the NotifyURL delivery is a form with `Status`, `MerchantID`, `Version`,
`TradeInfo` (AES of the JSON result) and `TradeSha`; `/API/CreditCard/Close` takes
`MerchantID_` + `PostData_` (AES of the query string) and answers JSON.
"""

from __future__ import annotations

import itertools
import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from commerce.payment_wire.newebpay_crypto import (
    decrypt,
    encrypt,
    trade_sha,
    verify_trade_sha,
)
from commerce.payment_wire.phpurl import php_build_query

MERCHANT_ID = "3430112"
HASH_KEY = "12345678901234567890123456789012"
HASH_IV = "1234567890123456"


class FakeNewebpay:
    def __init__(self, *, hash_key: str = HASH_KEY, hash_iv: str = HASH_IV) -> None:
        self.hash_key, self.hash_iv = hash_key, hash_iv
        self.base_url = ""
        self.trades: dict[str, dict[str, Any]] = {}
        self.refunds: list[dict[str, str]] = []
        self._seq = itertools.count(24112400000001)
        self.app = Starlette(
            routes=[
                Route("/MPG/mpg_gateway", self._mpg, methods=["POST"]),
                Route("/API/CreditCard/Close", self._close, methods=["POST"]),
            ]
        )

    async def _mpg(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        info, sha = form.get("TradeInfo", ""), form.get("TradeSha", "")
        if form.get("MerchantID") != MERCHANT_ID or not verify_trade_sha(
            info, sha, self.hash_key, self.hash_iv
        ):
            return PlainTextResponse("MPG03009 TradeSha error", status_code=400)
        params = dict(parse_qsl(decrypt(info, self.hash_key, self.hash_iv)))
        self.trades[params["MerchantOrderNo"]] = {"params": params, "trade_no": None}
        return PlainTextResponse("<html>NewebPay MPG page</html>")

    async def _close(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        try:
            params = dict(parse_qsl(decrypt(form["PostData_"], self.hash_key, self.hash_iv)))
        except (KeyError, ValueError):
            return JSONResponse({"Status": "TRA10001", "Message": "PostData_ error"})
        trade = self.trades.get(params.get("MerchantOrderNo", ""))
        if trade is None or params.get("CloseType") != "2":
            return JSONResponse({"Status": "TRA10021", "Message": "trade not found"})
        self.refunds.append(params)
        return JSONResponse({"Status": "SUCCESS", "Message": "退款成功", "Result": {
            "MerchantID": MERCHANT_ID, "Amt": int(params["Amt"]),
            "MerchantOrderNo": params["MerchantOrderNo"], "TradeNo": trade["trade_no"]}})

    def notification(
        self, order_no: str, *, amount: int | None = None, status: str = "SUCCESS",
        forge_sha: bool = False,
    ) -> tuple[dict[str, str], bytes]:
        trade = self.trades[order_no]
        if trade["trade_no"] is None:
            trade["trade_no"] = str(next(self._seq))
        amt = int(trade["params"]["Amt"]) if amount is None else amount
        result = {
            "Status": status,
            "Message": "授權成功" if status == "SUCCESS" else "授權失敗",
            "Result": {
                "MerchantID": MERCHANT_ID, "Amt": amt, "TradeNo": trade["trade_no"],
                "MerchantOrderNo": order_no, "PaymentType": "CREDIT", "RespondType": "JSON",
                "PayTime": "2024-11-24 12:00:00", "IP": "127.0.0.1", "EscrowBank": "HNCB",
            },
        }
        info = encrypt(json.dumps(result, ensure_ascii=False), self.hash_key, self.hash_iv)
        sha = trade_sha(info, self.hash_key, self.hash_iv)
        if forge_sha:
            sha = trade_sha(info, "X" * 32, self.hash_iv)
        form = [("Status", status), ("MerchantID", MERCHANT_ID), ("Version", "2.0"),
                ("TradeInfo", info), ("TradeSha", sha)]
        return {"content-type": "application/x-www-form-urlencoded"}, php_build_query(
            form
        ).encode()
