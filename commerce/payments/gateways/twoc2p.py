"""2C2P PGW v4.3: a JWT-signed payment-token request, redirect, and a JWT backend notification.

Docs: developer.2c2p.com (Payment Token API `POST /payment/4.3/paymentToken`, Payment Inquiry
`POST /payment/4.3/paymentInquiry`, "Payment Response - Backend API"). Requests and replies are
`{"payload": <HS256 JWT>}` signed with the merchant's secret key (see `twoc2p_jwt`). The
backend notification is the same envelope posted to `backendReturnUrl`; `respCode "0000"` is
a successful payment. 2C2P expects an HTTP 200; the body is ignored.

Refunds go through 2C2P's Payment Maintenance ("Payment Action") API instead
(docs/payment-maintenance-refund-guide): an XML `PaymentProcessRequest` (processType `R`,
our invoiceNo, actionAmount) encrypted to 2C2P's public key and signed with the merchant's
RSA key (JWE RSA-OAEP/A256GCM inside JWS PS256, see `twoc2p_maintenance`), posted to
`TWOC2P_MAINTENANCE_URL`. The reply must carry 2C2P's signature; `respCode "00"` is success,
any other code is a refusal the caller sees as 409 `refund_refused` with 2C2P's code. Without
2C2P's public key configured, refunds stay `refund_unsupported` (done in 2C2P's portal).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import structlog

from commerce.payment_wire import exactjson, twoc2p_jwt, twoc2p_maintenance
from commerce.payment_wire.wire_errors import SignatureMismatch, WireFormatError
from commerce.payments.errors import PaymentProviderError, RefundUnsupported
from commerce.payments.gateways.base import (
    CreatedPayment,
    GatewayDefaults,
    ParsedNotification,
    PaymentRequest,
    RawNotification,
    RefundResult,
    VerifiedNotification,
    send,
)
from shared.config.payments import TwoC2PSettings
from shared.errors import ConfigError
from shared.money import to_minor

log = structlog.get_logger(__name__)

TOKEN_PATH = "/payment/4.3/paymentToken"  # noqa: S105 (a URL path)
INQUIRY_PATH = "/payment/4.3/paymentInquiry"
SUCCESS = "0000"
PENDING = {"0001", "2000", "2001"}  # redirect/pending codes before the final result


class TwoC2PGateway(GatewayDefaults):
    name = "twoc2p"

    def __init__(
        self, config: TwoC2PSettings, *, timeout_s: float = 10.0,
        maintenance_keys: Callable[[], tuple[str, str | None]] | None = None,
    ) -> None:
        self.config = config
        self._secret_key = config.secret_key.get_secret_value()
        # (merchant private key PEM, 2C2P public key/certificate PEM or None), read only when a
        # refund needs them: payments and webhooks never touch the RSA keys.
        self.maintenance_keys = maintenance_keys
        self.timeout_s = timeout_s

    async def _call(self, path: str, claims: dict[str, Any]) -> dict[str, Any]:
        body = twoc2p_jwt.request_body(claims, self._secret_key)
        async with self.client(self.config.base_url) as client:
            req = client.build_request(
                "POST", path, content=body, headers={"Content-Type": "application/json"}
            )
            resp = await send(client, req, self.name)
        try:
            reply = twoc2p_jwt.parse_response(resp.content, self._secret_key)
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
        claims = twoc2p_jwt.verify_notification(raw.body, self._secret_key)
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

    def _maintenance_key_pair(self) -> twoc2p_maintenance.KeyPair:
        """Our signing/decryption key and 2C2P's public key, or `RefundUnsupported` (logged
        with the reason; the caller only learns that refunds are not set up)."""
        try:
            if self.maintenance_keys is None or not self.config.maintenance_url:
                raise ValueError("no maintenance URL or keys configured")
            private_pem, public_pem = self.maintenance_keys()
            if public_pem is None:
                raise ValueError("TWOC2P_PUBLIC_KEY(_FILE) (2C2P's key from its portal) is unset")
            return twoc2p_maintenance.key_pair(private_pem, public_pem)
        except (ValueError, ConfigError) as exc:
            log.warning("twoc2p_refund_unconfigured", reason=str(exc))
            raise RefundUnsupported(
                "2C2P refunds are not configured on this server; refund in the 2C2P portal"
            ) from exc

    async def refund(
        self, *, provider_ref: str, provider_txn_id: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        keys = self._maintenance_key_pair()
        amount = (Decimal(amount_minor) / 100).quantize(Decimal("0.01"))
        document = twoc2p_maintenance.refund_request(
            merchant_id=self.config.merchant_id, invoice_no=provider_ref, amount=amount
        )
        url = self.config.maintenance_url
        async with self.client(url) as client:
            req = client.build_request(
                "POST", url, content=twoc2p_maintenance.seal(document, keys),
                headers={"Content-Type": "text/plain", "Accept": "text/plain"},
            )
            resp = await send(client, req, self.name)
        if resp.status_code != 200:
            raise PaymentProviderError(f"2C2P refund answered HTTP {resp.status_code}")
        try:
            reply = twoc2p_maintenance.parse_xml(
                twoc2p_maintenance.unseal(resp.content, keys), twoc2p_maintenance.RESPONSE_TAG
            )
        except WireFormatError as exc:  # includes SignatureMismatch: never trust it
            log.warning("twoc2p_refund_reply_rejected", invoice=provider_ref, reason=str(exc))
            raise PaymentProviderError(f"2C2P refund reply rejected: {exc}") from exc
        if reply.get("invoiceNo", provider_ref) != provider_ref:
            raise PaymentProviderError("2C2P refund reply is about another invoice")
        code, desc = reply.get("respCode", ""), reply.get("respDesc", "")
        if code != twoc2p_maintenance.SUCCESS:
            raise PaymentProviderError(
                f"2C2P refused the refund: {code} {desc}".strip(), code="refund_refused",
                status=409, details={"provider_code": code, "provider_message": desc},
            )
        refund_id = reply.get("referenceNo") or reply.get("refundReferenceNo") or provider_ref
        return RefundResult(provider_refund_id=refund_id[:64], amount_minor=amount_minor)


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
