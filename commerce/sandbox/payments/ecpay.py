"""ECPay AIO sandbox: the checkout form, the `ReturnURL` notification, query and refund.

As documented (developers.ecpay.com.tw, AIO): the shopper's browser posts the signed form to
`/Cashier/AioCheckOut/V5`; ECPay posts the result to `ReturnURL` as a form signed with
`CheckMacValue` (`RtnCode=1` paid) until it reads `1|OK`, and sends the shopper to
`ClientBackURL`. `QueryTradeInfo/V5` answers a signed query string; `CreditDetail/DoAction`
(`Action=R`) refunds all or part of a captured card payment and answers `RtnCode=1&RtnMsg=`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from commerce.payment_wire.ecpay_mac import check_mac_value, verify_check_mac_value
from commerce.payment_wire.phpurl import php_build_query
from commerce.sandbox.payments.base import (
    Completion,
    Outcome,
    ProviderSandbox,
    deliver,
    refundable,
)
from commerce.sandbox.payments.pages import error_page
from shared.config.payments import EcpaySettings

TAIPEI = ZoneInfo("Asia/Taipei")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _now() -> str:
    return datetime.now(UTC).astimezone(TAIPEI).strftime("%Y/%m/%d %H:%M:%S")


class EcpaySandbox(ProviderSandbox):
    name = "ecpay"
    title = "ECPay"

    @property
    def account(self) -> EcpaySettings:
        """The account the adapter is configured with: the sandbox checks the same one."""
        return self.settings.payments.ecpay

    def api_routes(self) -> list[BaseRoute]:
        return [
            Route("/Cashier/AioCheckOut/V5", self._checkout, methods=["POST"]),
            Route("/Cashier/QueryTradeInfo/V5", self._query, methods=["POST"]),
            Route("/CreditDetail/DoAction", self._do_action, methods=["POST"]),
        ]

    def _sign(self, fields: dict[str, str]) -> dict[str, str]:
        key, iv = self.account.hash_key, self.account.hash_iv
        fields["CheckMacValue"] = check_mac_value(
            fields, key.get_secret_value(), iv.get_secret_value()
        )
        return fields

    async def _signed_form(self, request: Request) -> dict[str, str] | None:
        fields = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        key, iv = self.account.hash_key, self.account.hash_iv
        ok = verify_check_mac_value(fields, key.get_secret_value(), iv.get_secret_value())
        mine = fields.get("MerchantID") == self.account.merchant_id
        return fields if ok and mine else None

    async def _checkout(self, request: Request) -> Response:
        fields = await self._signed_form(request)
        if fields is None:
            return error_page("10200073|CheckMacValue Error")
        return await self.checkout_page(fields["MerchantTradeNo"], {
            "fields": fields, "amount": fields["TotalAmount"], "currency": "TWD",
            "description": fields.get("ItemName", ""), "refunded": 0})

    async def complete(self, app: ASGIApp, ref: str, outcome: Outcome) -> Completion:
        trade, again = await self.decide(ref, outcome)
        if not again:
            seq = await self.store.next_id(self.name)
            trade.update(outcome=outcome, trade_no=f"{2412000000000000 + seq}",
                         payment_date=_now())
            await self.save(ref, trade)
        paid = outcome == "paid"
        fields = self._sign({
            "CustomField1": "", "CustomField2": "", "CustomField3": "", "CustomField4": "",
            "MerchantID": self.account.merchant_id,
            "MerchantTradeNo": ref,
            "PaymentDate": trade["payment_date"],
            "PaymentType": "Credit_CreditCard",
            "PaymentTypeChargeFee": "0",
            "RtnCode": "1" if paid else "10100058",
            "RtnMsg": "交易成功" if paid else "交易失敗",
            "SimulatePaid": "0",
            "StoreID": "",
            "TradeAmt": trade["amount"],
            "TradeDate": trade["fields"]["MerchantTradeDate"],
            "TradeNo": trade["trade_no"],
        })
        status = await deliver(app, trade["fields"]["ReturnURL"], headers=FORM,
                               content=php_build_query(fields.items()).encode())
        back = trade["fields"].get("ClientBackURL") or trade["fields"].get("OrderResultURL", "")
        return Completion(status.status, back, redelivered=again)

    async def _query(self, request: Request) -> Response:
        fields = await self._signed_form(request)
        if fields is None:
            return PlainTextResponse("CheckMacValue Error", status_code=400)
        ref = fields.get("MerchantTradeNo", "")
        trade = await self.trade(ref) or {}
        reply = self._sign({
            "MerchantID": self.account.merchant_id,
            "MerchantTradeNo": ref,
            "TradeNo": trade.get("trade_no", ""),
            "TradeAmt": str(trade.get("amount", "0")),
            "TradeStatus": "1" if trade.get("outcome") == "paid" else "0",
            "PaymentType": "Credit_CreditCard",
        })
        return PlainTextResponse(php_build_query(reply.items()))

    async def _do_action(self, request: Request) -> Response:
        fields = await self._signed_form(request)
        if fields is None:
            return _reply(fields, "0", "CheckMacValue Error")
        ref = fields.get("MerchantTradeNo", "")
        trade: dict[str, Any] = await self.trade(ref) or {}
        if trade.get("outcome") != "paid" or trade.get("trade_no") != fields.get("TradeNo"):
            return _reply(fields, "0", "查無此交易")
        if fields.get("Action") != "R":
            return _reply(fields, "0", "Action not supported by the sandbox")
        amount = refundable(fields.get("TotalAmount", ""), trade)
        if amount is None:
            return _reply(fields, "0", "退款金額錯誤")
        trade["refunded"] += amount
        await self.save(ref, trade)
        return _reply(fields, "1", "Succeeded")


def _reply(fields: dict[str, str] | None, code: str, message: str) -> Response:
    """DoAction's documented answer: a query string with `RtnCode` and `RtnMsg`."""
    fields = fields or {}
    return PlainTextResponse(php_build_query([
        ("MerchantID", fields.get("MerchantID", "")),
        ("MerchantTradeNo", fields.get("MerchantTradeNo", "")),
        ("TradeNo", fields.get("TradeNo", "")),
        ("RtnCode", code), ("RtnMsg", message),
    ]))
