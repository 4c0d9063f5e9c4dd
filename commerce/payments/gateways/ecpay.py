"""ECPay (綠界) AIO checkout: a signed form post, a signed notification answered `1|OK`.

Docs: developers.ecpay.com.tw (全方位金流 AIO): `POST /Cashier/AioCheckOut/V5` with
`MerchantTradeNo` (≤ 20 alphanumerics, unique per merchant), `TotalAmount` in whole TWD and
`CheckMacValue` (SHA-256, `EncryptType=1`). ECPay posts the result to `ReturnURL` as a form
(`RtnCode=1` is paid) and retries until it reads exactly `1|OK`. `QueryTradeInfo/V5` is the
documented fallback when a notification never arrives; `CreditDetail/DoAction` (`Action=R`)
refunds a captured card payment.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import httpx

from commerce.payment_wire.ecpay_mac import check_mac_value, verify_check_mac_value
from commerce.payment_wire.phpurl import php_build_query
from commerce.payment_wire.wire_errors import SignatureMismatch, WireFormatError
from commerce.payments.errors import PaymentProviderError, UnsupportedPayment
from commerce.payments.gateways.base import (
    CreatedPayment,
    GatewayDefaults,
    NotificationStatus,
    ParsedNotification,
    PaymentRequest,
    RawNotification,
    RefundResult,
    VerifiedNotification,
    WebhookAnswer,
    minor_from_whole,
    send,
)
from shared.config.payments import EcpaySettings
from shared.money import to_whole_units

TAIPEI = ZoneInfo("Asia/Taipei")
CHECKOUT_PATH = "/Cashier/AioCheckOut/V5"
QUERY_PATH = "/Cashier/QueryTradeInfo/V5"
REFUND_PATH = "/CreditDetail/DoAction"


class EcpayGateway(GatewayDefaults):
    name = "ecpay"

    def __init__(self, config: EcpaySettings, *, timeout_s: float = 10.0) -> None:
        self.config = config
        self._hash_key = config.hash_key.get_secret_value()
        self._hash_iv = config.hash_iv.get_secret_value()
        self.timeout_s = timeout_s

    def _sign(self, fields: dict[str, str]) -> dict[str, str]:
        fields["CheckMacValue"] = check_mac_value(fields, self._hash_key, self._hash_iv)
        return fields

    async def create_payment(self, request: PaymentRequest) -> CreatedPayment:
        if request.currency != "TWD":
            raise UnsupportedPayment("ECPay takes TWD only")
        if not (request.trade_no.isascii() and request.trade_no.isalnum()) or len(
            request.trade_no
        ) > 20:
            raise ValueError("ECPay MerchantTradeNo must be at most 20 letters or digits")
        try:
            total = to_whole_units(request.amount_minor)
        except ValueError as exc:
            raise UnsupportedPayment("ECPay takes whole TWD dollars only") from exc
        now = datetime.now(UTC).astimezone(TAIPEI)
        fields = self._sign(
            {
                "MerchantID": self.config.merchant_id,
                "MerchantTradeNo": request.trade_no,
                "MerchantTradeDate": now.strftime("%Y/%m/%d %H:%M:%S"),
                "PaymentType": "aio",
                "TotalAmount": str(total),
                "TradeDesc": request.description[:200],
                "ItemName": request.description[:400],
                "ReturnURL": request.notify_url,
                "ChoosePayment": "ALL",
                "EncryptType": "1",
                "ClientBackURL": request.return_url,
            }
        )
        url = self.config.base_url.rstrip("/") + CHECKOUT_PATH
        return CreatedPayment(action={"type": "form_post", "url": url, "fields": fields})

    async def verify_notification(self, raw: RawNotification) -> VerifiedNotification:
        fields = raw.form()
        if not verify_check_mac_value(fields, self._hash_key, self._hash_iv):
            raise SignatureMismatch("ECPay CheckMacValue does not match")
        if fields.get("MerchantID") != self.config.merchant_id:
            raise SignatureMismatch("ECPay notification for another merchant")
        return VerifiedNotification(self.name, dict(fields), raw.body.decode("utf-8"))

    def parse_notification(self, verified: VerifiedNotification) -> ParsedNotification:
        data = verified.data
        try:
            trade_no, rtn_code = data["TradeNo"], data["RtnCode"]
            amount = minor_from_whole(data["TradeAmt"])
            ref = data["MerchantTradeNo"]
        except KeyError as exc:
            raise WireFormatError(f"ECPay notification lacks {exc.args[0]}") from exc
        simulated = data.get("SimulatePaid") == "1"
        status: NotificationStatus
        if rtn_code != "1":
            status = "failed"
        elif simulated and not self.config.accept_simulated_paid:
            status = "pending"  # a stage "simulate paid" click is never money
        else:
            status = "succeeded"
        return ParsedNotification(
            provider_event_id=f"{trade_no}:{rtn_code}:{'sim' if simulated else 'pay'}",
            provider_ref=ref,
            amount_minor=amount,
            currency="TWD",
            status=status,
            provider_txn_id=trade_no,
            raw=verified.raw,
        )

    def answer(self, parsed: ParsedNotification | None) -> WebhookAnswer:
        return WebhookAnswer(body="1|OK")

    async def _post_form(self, path: str, fields: dict[str, str]) -> dict[str, str]:
        async with self.client(self.config.base_url) as client:
            req = client.build_request(
                "POST", path, content=php_build_query(fields.items()),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            resp = await send(client, req, self.name)
        if resp.status_code != httpx.codes.OK:
            raise PaymentProviderError(f"ECPay {path} answered HTTP {resp.status_code}")
        return dict(parse_qsl(resp.text, keep_blank_values=True))

    async def query(self, *, provider_ref: str, provider_txn_id: str | None,
                    amount_minor: int, currency: str) -> ParsedNotification:
        """QueryTradeInfo: the documented fallback when no ReturnURL notification came."""
        fields = self._sign(
            {
                "MerchantID": self.config.merchant_id,
                "MerchantTradeNo": provider_ref,
                "TimeStamp": str(int(time.time())),
            }
        )
        reply = await self._post_form(QUERY_PATH, fields)
        if not verify_check_mac_value(reply, self._hash_key, self._hash_iv):
            raise SignatureMismatch("ECPay QueryTradeInfo reply does not verify")
        paid = reply.get("TradeStatus") == "1"
        return ParsedNotification(
            provider_event_id=f"{reply.get('TradeNo', '')}:query:{reply.get('TradeStatus')}",
            provider_ref=reply.get("MerchantTradeNo", provider_ref),
            amount_minor=minor_from_whole(reply.get("TradeAmt", "0")),
            currency="TWD",
            status="succeeded" if paid else "pending",
            provider_txn_id=reply.get("TradeNo") or None,
            raw=php_build_query(reply.items()),
        )

    async def refund(
        self, *, provider_ref: str, provider_txn_id: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        """Refund a captured card payment (`Action=R`); other ECPay methods refund by hand."""
        if not provider_txn_id:
            raise PaymentProviderError("ECPay refund needs the TradeNo from the notification")
        fields = self._sign(
            {
                "MerchantID": self.config.merchant_id,
                "MerchantTradeNo": provider_ref,
                "TradeNo": provider_txn_id,
                "Action": "R",
                "TotalAmount": str(to_whole_units(amount_minor)),
            }
        )
        reply = await self._post_form(REFUND_PATH, fields)
        if reply.get("RtnCode") != "1":
            raise PaymentProviderError(f"ECPay refund refused: {reply.get('RtnMsg', '')}")
        return RefundResult(provider_refund_id=f"{provider_txn_id}:R", amount_minor=amount_minor)
