"""Fake ECPay AIO: checks our CheckMacValue, and signs the notifications and replies it sends.

Wire format as documented (developers.ecpay.com.tw, AIO): form posts in, `ReturnURL`
notification as a form with `CheckMacValue` (SHA-256), QueryTradeInfo answered as a signed
query string, DoAction (refund) answered `RtnCode=1&RtnMsg=...`.
"""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from commerce.payments.gateways.ecpay_mac import check_mac_value, verify_check_mac_value
from commerce.payments.gateways.phpurl import php_build_query

MERCHANT_ID = "3002607"
HASH_KEY = "pwFHCqoQZGmho4w6"
HASH_IV = "EkRm7iFT261dpevs"


class FakeEcpay:
    def __init__(self, *, hash_key: str = HASH_KEY, hash_iv: str = HASH_IV) -> None:
        self.hash_key, self.hash_iv = hash_key, hash_iv
        self.base_url = ""
        self.trades: dict[str, dict[str, Any]] = {}
        self.refunds: list[dict[str, str]] = []
        self._seq = itertools.count(2411240000000001)
        self.app = Starlette(
            routes=[
                Route("/Cashier/AioCheckOut/V5", self._checkout, methods=["POST"]),
                Route("/Cashier/QueryTradeInfo/V5", self._query, methods=["POST"]),
                Route("/CreditDetail/DoAction", self._do_action, methods=["POST"]),
            ]
        )

    async def _form(self, request: Request) -> dict[str, str] | None:
        fields = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        ok = verify_check_mac_value(fields, self.hash_key, self.hash_iv)
        return fields if ok and fields.get("MerchantID") == MERCHANT_ID else None

    async def _checkout(self, request: Request) -> Response:
        fields = await self._form(request)
        if fields is None:
            return PlainTextResponse("10200073|CheckMacValue Error", status_code=400)
        self.trades[fields["MerchantTradeNo"]] = {"fields": fields, "trade_no": None}
        return PlainTextResponse("<html>ECPay checkout page</html>")

    async def _query(self, request: Request) -> Response:
        fields = await self._form(request)
        if fields is None:
            return PlainTextResponse("CheckMacValue Error", status_code=400)
        trade = self.trades.get(fields["MerchantTradeNo"], {})
        reply = {
            "MerchantID": MERCHANT_ID,
            "MerchantTradeNo": fields["MerchantTradeNo"],
            "TradeNo": trade.get("trade_no") or "",
            "TradeAmt": trade.get("fields", {}).get("TotalAmount", "0"),
            "TradeStatus": "1" if trade.get("paid") else "0",
            "PaymentType": "Credit_CreditCard",
        }
        reply["CheckMacValue"] = check_mac_value(reply, self.hash_key, self.hash_iv)
        return PlainTextResponse(php_build_query(reply.items()))

    async def _do_action(self, request: Request) -> Response:
        fields = await self._form(request)
        if fields is None:
            return PlainTextResponse("RtnCode=0&RtnMsg=CheckMacValue Error")
        trade = self.trades.get(fields["MerchantTradeNo"])
        if not trade or trade.get("trade_no") != fields["TradeNo"]:
            return PlainTextResponse("RtnCode=0&RtnMsg=trade not found")
        self.refunds.append(fields)
        return PlainTextResponse(
            php_build_query([("MerchantID", MERCHANT_ID), ("MerchantTradeNo",
                             fields["MerchantTradeNo"]), ("TradeNo", fields["TradeNo"]),
                             ("RtnCode", "1"), ("RtnMsg", "Succeeded")])
        )

    def notification(
        self, merchant_trade_no: str, *, amount: int | None = None, rtn_code: str = "1",
        simulate: bool = False,
    ) -> tuple[dict[str, str], bytes]:
        """The ReturnURL delivery for a trade (headers, body), signed; `amount` in whole TWD."""
        trade = self.trades[merchant_trade_no]
        if trade["trade_no"] is None:
            trade["trade_no"] = str(next(self._seq))
        trade["paid"] = rtn_code == "1"
        total = trade["fields"]["TotalAmount"] if amount is None else str(amount)
        fields = {
            "CustomField1": "", "CustomField2": "", "CustomField3": "", "CustomField4": "",
            "MerchantID": MERCHANT_ID,
            "MerchantTradeNo": merchant_trade_no,
            "PaymentDate": "2024/11/24 12:00:00",
            "PaymentType": "Credit_CreditCard",
            "PaymentTypeChargeFee": "1",
            "RtnCode": rtn_code,
            "RtnMsg": "交易成功" if rtn_code == "1" else "交易失敗",
            "SimulatePaid": "1" if simulate else "0",
            "StoreID": "",
            "TradeAmt": total,
            "TradeDate": "2024/11/24 11:59:00",
            "TradeNo": trade["trade_no"],
        }
        fields["CheckMacValue"] = check_mac_value(fields, self.hash_key, self.hash_iv)
        return (
            {"content-type": "application/x-www-form-urlencoded"},
            php_build_query(fields.items()).encode(),
        )
