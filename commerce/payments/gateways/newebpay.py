"""NewebPay (藍新) MPG: an encrypted form post (`TradeInfo` + `TradeSha`) and the same pair back.

Docs: NewebPay 線上交易─幕前支付技術串接手冊 (MPG, Version 2.0): the shopper's browser posts
`MerchantID`, `TradeInfo`, `TradeSha`, `Version` to `/MPG/mpg_gateway`; `NotifyURL` receives
`Status`, `MerchantID`, `TradeInfo`, `TradeSha` with `RespondType=JSON`, so the decrypted
`TradeInfo` is `{"Status": "SUCCESS", "Result": {"MerchantOrderNo", "Amt", "TradeNo", ...}}`.
Refunds of card payments go through `/API/CreditCard/Close` (`CloseType=2`) with the
parameters AES-encrypted into `PostData_`.
"""

from __future__ import annotations

import time
from typing import Any

from commerce.payment_wire import exactjson
from commerce.payment_wire.newebpay_crypto import encrypt, open_notification, seal
from commerce.payment_wire.phpurl import php_build_query
from commerce.payment_wire.wire_errors import SignatureMismatch, WireFormatError
from commerce.payments.errors import PaymentProviderError, UnsupportedPayment
from commerce.payments.gateways.base import (
    CreatedPayment,
    GatewayDefaults,
    ParsedNotification,
    PaymentRequest,
    RawNotification,
    RefundResult,
    VerifiedNotification,
    minor_from_whole,
    send,
)
from shared.config.payments import NewebpaySettings
from shared.money import to_whole_units

MPG_PATH = "/MPG/mpg_gateway"
CLOSE_PATH = "/API/CreditCard/Close"
MPG_VERSION = "2.0"


class NewebpayGateway(GatewayDefaults):
    name = "newebpay"

    def __init__(self, config: NewebpaySettings, *, timeout_s: float = 10.0) -> None:
        self.config = config
        self._hash_key = config.hash_key.get_secret_value()
        self._hash_iv = config.hash_iv.get_secret_value()
        self.timeout_s = timeout_s

    async def create_payment(self, request: PaymentRequest) -> CreatedPayment:
        if request.currency != "TWD":
            raise UnsupportedPayment("NewebPay takes TWD only")
        try:
            amount = to_whole_units(request.amount_minor)
        except ValueError as exc:
            raise UnsupportedPayment("NewebPay takes whole TWD dollars only") from exc
        params = [
            ("MerchantID", self.config.merchant_id),
            ("RespondType", "JSON"),
            ("TimeStamp", str(int(time.time()))),
            ("Version", MPG_VERSION),
            ("MerchantOrderNo", request.trade_no),
            ("Amt", str(amount)),
            ("ItemDesc", request.description[:50]),
            ("NotifyURL", request.notify_url),
            ("ReturnURL", request.return_url),
            ("ClientBackURL", request.cancel_url),
        ]
        if request.email:
            params.append(("Email", request.email))
        sealed = seal(params, self._hash_key, self._hash_iv)
        fields = {
            "MerchantID": self.config.merchant_id,
            "TradeInfo": sealed.trade_info,
            "TradeSha": sealed.trade_sha,
            "Version": MPG_VERSION,
        }
        url = self.config.base_url.rstrip("/") + MPG_PATH
        return CreatedPayment(action={"type": "form_post", "url": url, "fields": fields})

    async def verify_notification(self, raw: RawNotification) -> VerifiedNotification:
        form = raw.form()
        plain = open_notification(
            form.get("TradeInfo", ""), form.get("TradeSha", ""),
            self._hash_key, self._hash_iv,
        )
        data = exactjson.loads(plain)
        if not isinstance(data, dict) or not isinstance(data.get("Result"), dict):
            raise WireFormatError("NewebPay TradeInfo is not the JSON result object")
        if str(data["Result"].get("MerchantID")) != self.config.merchant_id:
            raise SignatureMismatch("NewebPay notification for another merchant")
        return VerifiedNotification(self.name, data, plain)

    def parse_notification(self, verified: VerifiedNotification) -> ParsedNotification:
        result: dict[str, Any] = verified.data["Result"]
        status = str(verified.data.get("Status", ""))
        try:
            trade_no = str(result["TradeNo"])
            ref = str(result["MerchantOrderNo"])
            amount = minor_from_whole(result["Amt"])
        except KeyError as exc:
            raise WireFormatError(f"NewebPay result lacks {exc.args[0]}") from exc
        return ParsedNotification(
            provider_event_id=f"{trade_no}:{status}",
            provider_ref=ref,
            amount_minor=amount,
            currency="TWD",
            status="succeeded" if status == "SUCCESS" else "failed",
            provider_txn_id=trade_no,
            raw=verified.raw,
        )

    async def refund(
        self, *, provider_ref: str, provider_txn_id: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        """Card refund (`CloseType=2`) by our MerchantOrderNo (`IndexType=1`)."""
        post_data = encrypt(
            php_build_query(
                [
                    ("RespondType", "JSON"),
                    ("Version", "1.1"),
                    ("Amt", str(to_whole_units(amount_minor))),
                    ("MerchantOrderNo", provider_ref),
                    ("TimeStamp", str(int(time.time()))),
                    ("IndexType", "1"),
                    ("CloseType", "2"),
                ]
            ),
            self._hash_key,
            self._hash_iv,
        )
        async with self.client(self.config.base_url) as client:
            req = client.build_request(
                "POST", CLOSE_PATH,
                data={"MerchantID_": self.config.merchant_id, "PostData_": post_data},
            )
            resp = await send(client, req, self.name)
        try:
            reply = exactjson.loads(resp.content)
        except WireFormatError as exc:
            raise PaymentProviderError("NewebPay refund reply is not JSON") from exc
        if not isinstance(reply, dict) or reply.get("Status") != "SUCCESS":
            message = reply.get("Message", "") if isinstance(reply, dict) else ""
            raise PaymentProviderError(f"NewebPay refund refused: {message}")
        result = reply.get("Result") or {}
        return RefundResult(
            provider_refund_id=f"{result.get('TradeNo', provider_txn_id)}:refund",
            amount_minor=amount_minor,
        )
