"""2C2P PGW v4.3: a JWT-signed payment-token request, redirect, and a JWT backend notification.

Docs: developer.2c2p.com (Payment Token API `POST /payment/4.3/paymentToken`, Payment Inquiry
`POST /payment/4.3/paymentInquiry`, "Payment Response - Backend API"). Requests and replies are
`{"payload": <HS256 JWT>}` signed with the merchant's secret key (see `twoc2p_jwt`). The
backend notification is the same envelope posted to `backendReturnUrl`; `respCode "0000"` is
a successful payment. 2C2P expects an HTTP 200; the body is ignored.

Refunds go through 2C2P's Payment Maintenance API, which needs the merchant's RSA key pair
(JWE + JWS) rather than the shared secret; that is not wired here, so refunds of 2C2P payments
are refused with `refund_unsupported` and done in 2C2P's merchant portal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from commerce.payments.errors import PaymentProviderError
from commerce.payments.gateways import exactjson, twoc2p_jwt
from commerce.payments.gateways.base import (
    CreatedPayment,
    GatewayDefaults,
    ParsedNotification,
    PaymentRequest,
    RawNotification,
    VerifiedNotification,
    send,
)
from commerce.payments.gateways.wire_errors import SignatureMismatch, WireFormatError
from shared.money import to_minor

TOKEN_PATH = "/payment/4.3/paymentToken"  # noqa: S105 (a URL path)
INQUIRY_PATH = "/payment/4.3/paymentInquiry"
SUCCESS = "0000"
PENDING = {"0001", "2000", "2001"}  # redirect/pending codes before the final result


@dataclass(frozen=True, slots=True)
class TwoC2PConfig:
    merchant_id: str
    secret_key: str
    base_url: str


class TwoC2PGateway(GatewayDefaults):
    name = "twoc2p"

    def __init__(self, config: TwoC2PConfig, *, timeout_s: float = 10.0) -> None:
        self.config = config
        self.timeout_s = timeout_s

    async def _call(self, path: str, claims: dict[str, Any]) -> dict[str, Any]:
        body = twoc2p_jwt.request_body(claims, self.config.secret_key)
        async with self.client(self.config.base_url) as client:
            req = client.build_request(
                "POST", path, content=body, headers={"Content-Type": "application/json"}
            )
            resp = await send(client, req, self.name)
        try:
            reply = twoc2p_jwt.parse_response(resp.content, self.config.secret_key)
        except WireFormatError as exc:  # includes SignatureMismatch: never trust it
            raise PaymentProviderError(f"2C2P {path} reply rejected: {exc}") from exc
        if isinstance(reply, twoc2p_jwt.UnsignedReply):
            raise PaymentProviderError(f"2C2P {path} refused: {reply.resp_code} {reply.resp_desc}")
        return reply

    async def create_payment(self, request: PaymentRequest) -> CreatedPayment:
        claims = {
            "merchantID": self.config.merchant_id,
            "invoiceNo": request.trade_no,
            "description": request.description[:250],
            "amount": (Decimal(request.amount_minor) / 100).quantize(Decimal("0.01")),
            "currencyCode": request.currency,
            "backendReturnUrl": request.notify_url,
            "frontendReturnUrl": request.return_url,
        }
        reply = await self._call(TOKEN_PATH, claims)
        if reply.get("respCode") != SUCCESS or not isinstance(reply.get("webPaymentUrl"), str):
            raise PaymentProviderError(f"2C2P paymentToken refused: {reply.get('respCode')}")
        return CreatedPayment(action={"type": "redirect", "url": reply["webPaymentUrl"]})

    async def verify_notification(self, raw: RawNotification) -> VerifiedNotification:
        claims = twoc2p_jwt.verify_notification(raw.body, self.config.secret_key)
        if str(claims.get("merchantID")) != self.config.merchant_id:
            raise SignatureMismatch("2C2P notification for another merchant")
        return VerifiedNotification(self.name, claims, exactjson.dumps(claims))

    def parse_notification(self, verified: VerifiedNotification) -> ParsedNotification:
        return _parse_claims(verified.data, verified.raw)

    async def query(self, *, provider_ref: str, provider_txn_id: str | None,
                    amount_minor: int, currency: str) -> ParsedNotification:
        claims = {"merchantID": self.config.merchant_id, "invoiceNo": provider_ref, "locale": "en"}
        reply = await self._call(INQUIRY_PATH, claims)
        return _parse_claims(reply, exactjson.dumps(reply))


def _parse_claims(claims: dict[str, Any], raw: str) -> ParsedNotification:
    try:
        ref = str(claims["invoiceNo"])
        code = str(claims["respCode"])
        amount = to_minor(Decimal(str(claims["amount"])))
    except (KeyError, ValueError) as exc:
        raise WireFormatError(f"2C2P result lacks or garbles {exc}") from exc
    tran_ref = str(claims.get("tranRef") or "")
    status = "succeeded" if code == SUCCESS else "pending" if code in PENDING else "failed"
    return ParsedNotification(
        provider_event_id=f"{ref}:{tran_ref}:{code}",
        provider_ref=ref,
        amount_minor=amount,
        currency=str(claims.get("currencyCode", "")),
        status=status,  # type: ignore[arg-type]
        provider_txn_id=tran_ref[:32] or None,
        raw=raw,
    )
