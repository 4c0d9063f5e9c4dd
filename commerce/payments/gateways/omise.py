"""Omise (Opn Payments): card, PromptPay, TrueMoney, Apple Pay and Google Pay through charges.

Docs: docs.omise.co (Charges, Sources, Tokens, Events, Refunds; HTTP basic auth with the key as
user name). Cards arrive as a token made by Omise.js (`tokn_...`); Apple Pay / Google Pay
payment data is exchanged for such a token at the vault (`POST /tokens` with
`tokenization[method]` + `tokenization[data]`, public key) and charged like a card. PromptPay
and TrueMoney are sources: PromptPay's charge carries `source.scannable_code.image`
(`download_uri`), TrueMoney's an `authorize_uri` to redirect to.

Omise webhooks are not signed: the documented way to trust one is to re-fetch the event with
the secret key (`GET /events/{id}`) and use what the API says, never the posted body.
"""

from __future__ import annotations

import base64
from typing import Any

from commerce.payment_wire import exactjson
from commerce.payment_wire.wire_errors import SignatureMismatch, WireFormatError
from commerce.payments.errors import PaymentProviderError, UnsupportedPayment
from commerce.payments.gateways.base import (
    CreatedPayment,
    GatewayDefaults,
    IrrelevantNotification,
    ParsedNotification,
    PaymentRequest,
    RawNotification,
    RefundResult,
    VerifiedNotification,
    send,
)
from shared.config.payments import OmiseSettings

CARD_METHODS = {"omise_card", "applepay", "googlepay"}
STATUS = {
    "successful": "succeeded",
    "failed": "failed",
    "expired": "failed",
    "reversed": "failed",
    "pending": "pending",
}


class OmiseGateway(GatewayDefaults):
    name = "omise"

    def __init__(self, config: OmiseSettings, *, timeout_s: float = 10.0) -> None:
        self.config = config
        self._secret_key = config.secret_key.get_secret_value()
        self.timeout_s = timeout_s

    async def _call(
        self, method: str, path: str, *, data: dict[str, str] | None = None,
        base: str | None = None, key: str | None = None,
    ) -> dict[str, Any]:
        async with self.client(base or self.config.api_url) as client:
            req = client.build_request(
                method, path, data=data, headers=_basic(key or self._secret_key)
            )
            resp = await send(client, req, self.name)
        try:
            reply = exactjson.loads(resp.content)
        except WireFormatError as exc:
            raise PaymentProviderError(f"Omise {path} answered HTTP {resp.status_code}") from exc
        if not isinstance(reply, dict):
            raise PaymentProviderError(f"Omise {path} answered a non-object")
        if reply.get("object") == "error":
            raise PaymentProviderError(
                f"Omise {path}: {reply.get('code')}: {reply.get('message')}",
                details={"provider_code": reply.get("code"), "http_status": resp.status_code},
            )
        return reply

    async def _wallet_token(self, method: str, payment_data: str) -> str:
        """Exchange Apple Pay / Google Pay payment data for an Omise card token."""
        token = await self._call(
            "POST", "/tokens", base=self.config.vault_url, key=self.config.public_key,
            data={"tokenization[method]": method, "tokenization[data]": payment_data},
        )
        return str(token["id"])

    async def create_payment(self, request: PaymentRequest) -> CreatedPayment:
        if request.currency != "THB":
            raise UnsupportedPayment("Omise methods here take THB only")
        charge_fields = {
            "amount": str(request.amount_minor),
            "currency": request.currency,
            "description": request.description[:255],
            "return_uri": request.return_url,
            "metadata[trade_no]": request.trade_no,
        }
        if request.method in CARD_METHODS:
            if not request.token:
                raise UnsupportedPayment(f"{request.method} needs a token", code="token_required")
            card = request.token
            if request.method != "omise_card":
                card = await self._wallet_token(request.method, request.token)
            charge_fields["card"] = card
        elif request.method in {"promptpay", "truemoney"}:
            source_fields = {
                "type": request.method,
                "amount": str(request.amount_minor),
                "currency": request.currency,
            }
            if request.method == "truemoney":
                if not request.phone_number:
                    raise UnsupportedPayment("truemoney needs phone_number", code="phone_required")
                source_fields["phone_number"] = request.phone_number
            source = await self._call(
                "POST", "/sources", data=source_fields, key=self.config.public_key
            )
            charge_fields["source"] = str(source["id"])
        else:
            raise UnsupportedPayment(f"Omise does not handle {request.method}")
        charge = await self._call("POST", "/charges", data=charge_fields)
        charge_id = str(charge["id"])
        if charge.get("status") == "failed":
            raise PaymentProviderError(
                f"Omise declined the charge: {charge.get('failure_code')}",
                code="payment_declined", status=402,
            )
        if request.method == "promptpay":
            return CreatedPayment(action=await self._qr_action(charge), provider_txn_id=charge_id)
        url = charge.get("authorize_uri") or request.return_url
        return CreatedPayment(action={"type": "redirect", "url": url}, provider_txn_id=charge_id)

    async def _qr_action(self, charge: dict[str, Any]) -> dict[str, Any]:
        """The charge's QR image. Omise serves it as a document; PNG is passed on as base64."""
        code = (charge.get("source") or {}).get("scannable_code") or {}
        uri = (code.get("image") or {}).get("download_uri")
        if not isinstance(uri, str):
            raise PaymentProviderError("Omise PromptPay charge has no scannable_code image")
        async with self.client(uri) as client:
            req = client.build_request("GET", uri, headers=_basic(self._secret_key))
            resp = await send(client, req, self.name)
        image = resp.content
        is_png = image.startswith(b"\x89PNG")
        return {
            "type": "qr",
            "payload": uri,
            "image_png_base64": base64.b64encode(image).decode() if is_png else None,
            "image_url": uri,
        }

    async def verify_notification(self, raw: RawNotification) -> VerifiedNotification:
        """Re-fetch the posted event by id; the posted body itself is never trusted."""
        try:
            posted = exactjson.loads(raw.body)
        except WireFormatError as exc:
            raise SignatureMismatch("Omise webhook body is not JSON") from exc
        event_id = posted.get("id") if isinstance(posted, dict) else None
        if not isinstance(event_id, str) or not event_id.startswith("evnt_"):
            raise SignatureMismatch("Omise webhook without an event id")
        try:
            event = await self._call("GET", f"/events/{event_id}")
        except PaymentProviderError as exc:
            raise SignatureMismatch(f"Omise does not know event {event_id}") from exc
        if event.get("id") != event_id:
            raise SignatureMismatch("Omise answered for another event")
        if (event.get("data") or {}).get("object") != "charge":
            raise IrrelevantNotification(f"Omise {event.get('key')} event")
        return VerifiedNotification(self.name, event, exactjson.dumps(event))

    def parse_notification(self, verified: VerifiedNotification) -> ParsedNotification:
        event = verified.data
        return _parse_charge(event["data"], str(event["id"]), verified.raw)

    async def query(self, *, provider_ref: str, provider_txn_id: str | None,
                    amount_minor: int, currency: str) -> ParsedNotification:
        charge = await self._call("GET", f"/charges/{provider_txn_id}")
        return _parse_charge(charge, f"query:{charge.get('id')}:{charge.get('status')}",
                             exactjson.dumps(charge))

    async def refund(
        self, *, provider_ref: str, provider_txn_id: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        refund = await self._call(
            "POST", f"/charges/{provider_txn_id}/refunds", data={"amount": str(amount_minor)}
        )
        return RefundResult(provider_refund_id=str(refund["id"]), amount_minor=amount_minor)


def _basic(key: str) -> dict[str, str]:
    """HTTP basic auth with the key as user name and an empty password (Omise's scheme)."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode("ascii")}


def _parse_charge(charge: dict[str, Any], event_id: str, raw: str) -> ParsedNotification:
    try:
        ref = str((charge.get("metadata") or {})["trade_no"])
        amount = charge["amount"]
    except KeyError as exc:
        raise WireFormatError("Omise charge lacks metadata.trade_no or amount") from exc
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise WireFormatError("Omise charge amount is not an integer")
    return ParsedNotification(
        provider_event_id=event_id,
        provider_ref=ref,
        amount_minor=amount,
        currency=str(charge.get("currency", "")).upper(),
        status=STATUS.get(str(charge.get("status")), "pending"),  # type: ignore[arg-type]
        provider_txn_id=str(charge.get("id")),
        raw=raw,
    )
