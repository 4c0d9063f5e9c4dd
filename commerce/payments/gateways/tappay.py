"""TapPay (Cherri Tech, Taiwan) Pay by Prime: Apple Pay and Google Pay in TWD.

Docs: docs.tappaysdk.com (Backend API). The app or page gets a one-time `prime` from TapPay's
Apple Pay / Google Pay SDK (our `token`); the server posts it to `/tpc/payment/pay-by-prime`
(`x-api-key` = partner key, `partner_key`, `merchant_id`, `amount` in whole TWD,
`order_number`, `details`, `cardholder`). With `three_domain_secure` TapPay answers a
`payment_url` to send the shopper to and later posts the result to
`result_url.backend_notify_url`; without it, the answer (`status` 0) is the result itself.
TapPay's notification is not signed, so it is trusted only after the Record API
(`/tpc/transaction/query`, filter `rec_trade_id`) confirms it. Refunds, full or partial, are
`/tpc/transaction/refund` with `rec_trade_id` and `amount`. Omise serves the same two
wallets in THB (registry.provider_for).
"""

from __future__ import annotations

from typing import Any

from commerce.payment_wire import exactjson
from commerce.payment_wire.wire_errors import SignatureMismatch, WireFormatError
from commerce.payments.errors import PaymentProviderError, UnsupportedPayment
from commerce.payments.gateways.base import (
    CreatedPayment,
    GatewayDefaults,
    IrrelevantNotification,
    NotificationStatus,
    ParsedNotification,
    PaymentRequest,
    RawNotification,
    RefundResult,
    VerifiedNotification,
    minor_from_whole,
    send,
)
from shared.config.payments import TappaySettings
from shared.money import to_whole_units

PRIME_PATH = "/tpc/payment/pay-by-prime"
RECORD_PATH = "/tpc/transaction/query"
REFUND_PATH = "/tpc/transaction/refund"
METHODS = {"applepay", "googlepay"}
# Record API `record_status`: -1 error, 0 authorized, 1 captured (OK), 2 partially refunded,
# 3 refunded, 4 pending, 5 cancelled.
RECORD_STATUS: dict[int, NotificationStatus] = {-1: "failed", 0: "succeeded", 1: "succeeded",
                                                4: "pending", 5: "failed"}


class TappayGateway(GatewayDefaults):
    name = "tappay"

    def __init__(self, config: TappaySettings, *, timeout_s: float = 10.0) -> None:
        self.config = config
        self._partner_key = config.partner_key.get_secret_value()
        self.timeout_s = timeout_s

    async def _call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = exactjson.dumps({"partner_key": self._partner_key, **payload})
        async with self.client(self.config.base_url) as client:
            req = client.build_request(
                "POST", path, content=body,
                headers={"Content-Type": "application/json", "x-api-key": self._partner_key},
            )
            resp = await send(client, req, self.name)
        try:
            reply = exactjson.loads(resp.content)
        except WireFormatError as exc:
            raise PaymentProviderError(f"TapPay {path} answered HTTP {resp.status_code}") from exc
        if not isinstance(reply, dict) or not isinstance(reply.get("status"), int):
            raise PaymentProviderError(f"TapPay {path} answered without a status")
        return reply

    async def create_payment(self, request: PaymentRequest) -> CreatedPayment:
        if request.currency != "TWD":
            raise UnsupportedPayment("TapPay here takes TWD only")
        if request.method not in METHODS:
            raise UnsupportedPayment(f"TapPay does not handle {request.method}")
        if not request.token:
            raise UnsupportedPayment(f"{request.method} needs a token (the TapPay prime)",
                                     code="token_required")
        try:
            amount = to_whole_units(request.amount_minor)
        except ValueError as exc:
            raise UnsupportedPayment("TapPay takes whole TWD dollars only") from exc
        reply = await self._call(PRIME_PATH, {
            "prime": request.token,
            "merchant_id": self.config.merchant_id,
            "amount": amount,
            "currency": "TWD",
            "order_number": request.trade_no,
            "details": request.description[:100],
            "cardholder": {"phone_number": request.phone_number or "", "name": "",
                           "email": request.email or ""},
            "three_domain_secure": True,
            "result_url": {"frontend_redirect_url": request.return_url,
                           "backend_notify_url": request.notify_url},
        })
        if reply["status"] != 0:
            raise PaymentProviderError(
                f"TapPay declined the payment: {reply['status']} {reply.get('msg', '')}",
                code="payment_declined", status=402,
                details={"provider_code": reply["status"]},
            )
        rec = str(reply.get("rec_trade_id") or "")
        url = reply.get("payment_url")
        if isinstance(url, str) and url:
            return CreatedPayment(action={"type": "redirect", "url": url}, provider_txn_id=rec)
        # No 3-D Secure step: the answer is the result (a TLS reply to our own signed call).
        settled = _parse_record(reply, f"{rec}:paid", exactjson.dumps(reply))
        return CreatedPayment(action={"type": "redirect", "url": request.return_url},
                              provider_txn_id=rec, settled=settled)

    async def _record(self, rec_trade_id: str) -> dict[str, Any]:
        reply = await self._call(RECORD_PATH, {"records_per_page": 1, "page": 0,
                                               "filters": {"rec_trade_id": rec_trade_id}})
        records = reply.get("trade_records") or []
        if not records or not isinstance(records[0], dict):
            raise PaymentProviderError(f"TapPay has no record {rec_trade_id}")
        record: dict[str, Any] = records[0]
        if str(record.get("rec_trade_id")) != rec_trade_id:
            raise PaymentProviderError("TapPay answered for another record")
        return record

    async def verify_notification(self, raw: RawNotification) -> VerifiedNotification:
        """Re-read the notified transaction from the Record API; the body is only a hint."""
        try:
            posted = exactjson.loads(raw.body)
        except WireFormatError as exc:
            raise SignatureMismatch("TapPay notification is not JSON") from exc
        rec = posted.get("rec_trade_id") if isinstance(posted, dict) else None
        if not isinstance(rec, str) or not rec:
            raise SignatureMismatch("TapPay notification without rec_trade_id")
        try:
            record = await self._record(rec)
        except PaymentProviderError as exc:
            raise SignatureMismatch(f"TapPay does not confirm {rec}: {exc}") from exc
        if str(record.get("merchant_id", self.config.merchant_id)) != self.config.merchant_id:
            raise SignatureMismatch("TapPay record of another merchant")
        return VerifiedNotification(self.name, record, exactjson.dumps(record))

    def parse_notification(self, verified: VerifiedNotification) -> ParsedNotification:
        record = verified.data
        status = record.get("record_status")
        if status not in RECORD_STATUS:
            raise IrrelevantNotification(f"TapPay record_status {status}")
        outcome = RECORD_STATUS[status]
        group = "paid" if outcome == "succeeded" else str(status)
        return _parse_record(record, f"{record.get('rec_trade_id')}:{group}", verified.raw,
                             outcome)

    async def query(self, *, provider_ref: str, provider_txn_id: str | None,
                    amount_minor: int, currency: str) -> ParsedNotification:
        if not provider_txn_id:
            raise PaymentProviderError("TapPay query needs the rec_trade_id")
        record = await self._record(provider_txn_id)
        verified = VerifiedNotification(self.name, record, exactjson.dumps(record))
        return self.parse_notification(verified)

    async def refund(
        self, *, provider_ref: str, provider_txn_id: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        if not provider_txn_id:
            raise PaymentProviderError("TapPay refund needs the rec_trade_id")
        reply = await self._call(REFUND_PATH, {"rec_trade_id": provider_txn_id,
                                               "amount": to_whole_units(amount_minor)})
        if reply["status"] != 0:
            raise PaymentProviderError(
                f"TapPay refused the refund: {reply['status']} {reply.get('msg', '')}",
                code="refund_refused", status=409,
                details={"provider_code": reply["status"], "provider_message": reply.get("msg")},
            )
        refund_id = str(reply.get("refund_id") or f"{provider_txn_id}:refund")
        return RefundResult(provider_refund_id=refund_id[:64], amount_minor=amount_minor)


def _parse_record(record: dict[str, Any], event_id: str, raw: str,
                  status: NotificationStatus = "succeeded") -> ParsedNotification:
    try:
        ref = str(record["order_number"])
        amount = minor_from_whole(record["amount"])
    except KeyError as exc:
        raise WireFormatError(f"TapPay record lacks {exc.args[0]}") from exc
    return ParsedNotification(
        provider_event_id=event_id, provider_ref=ref, amount_minor=amount,
        currency=str(record.get("currency", "TWD")).upper(), status=status,
        provider_txn_id=str(record.get("rec_trade_id") or "")[:32] or None, raw=raw,
    )
