"""Fake ECPay AIO: checks our CheckMacValue, and signs the notifications and replies it sends.

Wire format as documented (developers.ecpay.com.tw, AIO): form posts in, `ReturnURL`
notification as a form with `CheckMacValue` (SHA-256), QueryTradeInfo answered as a signed
query string, DoAction (refund) answered `RtnCode=1&RtnMsg=...`.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from commerce.payment_wire.ecpay_mac import check_mac_value, verify_check_mac_value
from commerce.payment_wire.phpurl import php_build_query

MERCHANT_ID = "3002607"

# What ECPay's AIO API requires of each call (developers.ecpay.com.tw, 全方位金流 AIO: 產生訂單,
# 查詢訂單, 信用卡請退款), with the documented formats. A call that breaks one is refused as ECPay
# refuses it, so an adapter that drops or misformats a field fails here as it would there.
_DATE = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}$")
_TRADE_NO = re.compile(r"^[A-Za-z0-9]{1,20}$")
_POSITIVE_INT = re.compile(r"^[1-9][0-9]{0,9}$")
_CHOOSE_PAYMENT = {"Credit", "TWQR", "WebATM", "ATM", "CVS", "BARCODE", "ApplePay", "BNPL", "ALL"}
CHECKOUT_RULES: dict[str, Callable[[str], bool]] = {
    "MerchantID": lambda v: v == MERCHANT_ID,
    "MerchantTradeNo": lambda v: bool(_TRADE_NO.match(v)),
    "MerchantTradeDate": lambda v: bool(_DATE.match(v)),
    "PaymentType": lambda v: v == "aio",
    "TotalAmount": lambda v: bool(_POSITIVE_INT.match(v)),
    "TradeDesc": lambda v: 0 < len(v) <= 200,
    "ItemName": lambda v: 0 < len(v) <= 400,
    "ReturnURL": lambda v: v.startswith(("https://", "http://")) and len(v) <= 200,
    "ChoosePayment": lambda v: v in _CHOOSE_PAYMENT,
    "EncryptType": lambda v: v == "1",  # SHA256 CheckMacValue
}
QUERY_RULES: dict[str, Callable[[str], bool]] = {
    "MerchantID": lambda v: v == MERCHANT_ID,
    "MerchantTradeNo": lambda v: bool(_TRADE_NO.match(v)),
    "TimeStamp": lambda v: v.isascii() and v.isdigit() and abs(int(v) - time.time()) < 180,
}
DO_ACTION_RULES: dict[str, Callable[[str], bool]] = {
    "MerchantID": lambda v: v == MERCHANT_ID,
    "MerchantTradeNo": lambda v: bool(_TRADE_NO.match(v)),
    "TradeNo": lambda v: bool(v),
    "Action": lambda v: v in {"C", "R", "E", "N"},
    "TotalAmount": lambda v: bool(_POSITIVE_INT.match(v)),
}


def broken_fields(fields: dict[str, str], rules: dict[str, Callable[[str], bool]]) -> list[str]:
    """Names of required fields that are missing or not in their documented format."""
    return [name for name, ok in rules.items() if name not in fields or not ok(fields[name])]
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
        if broken := broken_fields(fields, CHECKOUT_RULES):
            return PlainTextResponse(f"10200052|Parameter Error: {','.join(broken)}", 400)
        if fields["MerchantTradeNo"] in self.trades:
            return PlainTextResponse("10200047|MerchantTradeNo is duplicate", status_code=400)
        self.trades[fields["MerchantTradeNo"]] = {"fields": fields, "trade_no": None}
        return PlainTextResponse("<html>ECPay checkout page</html>")

    async def _query(self, request: Request) -> Response:
        fields = await self._form(request)
        if fields is None:
            return PlainTextResponse("CheckMacValue Error", status_code=400)
        if broken := broken_fields(fields, QUERY_RULES):
            return PlainTextResponse(f"Parameter Error: {','.join(broken)}", status_code=400)
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
        if broken := broken_fields(fields, DO_ACTION_RULES):
            return PlainTextResponse(f"RtnCode=0&RtnMsg=Parameter Error: {','.join(broken)}")
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
