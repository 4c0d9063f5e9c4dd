"""Omise (Opn Payments) sandbox: tokens, sources, charges, events, refunds, PromptPay QR.

Shapes as in docs.omise.co: basic auth with the key as user name (public key for the vault's
`/tokens` and `/sources`, secret key otherwise); `charge` objects with `amount` in satang,
lower-case `currency`, `status` pending|successful|failed, `metadata`, `authorize_uri` (card
3-D Secure and TrueMoney) or `source.scannable_code.image.download_uri` (PromptPay); errors as
`{"object": "error", "code", "message"}`. Omise's webhooks are not signed: the sandbox posts a
`charge.complete` event to our webhook and our adapter trusts only what `GET /events/{id}`
answers. The sandbox's PromptPay QR encodes its checkout page, so scanning it "pays" here.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from commerce.payment_wire import exactjson, promptpay_qr
from commerce.sandbox.payments.base import Completion, Outcome, ProviderSandbox, deliver
from shared.config.payments import OmiseSettings

CARD_METHODS = {"applepay", "googlepay"}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"object": "error", "location": "https://www.omise.co/api-errors",
                         "code": code, "message": message}, status_code=status)


class OmiseSandbox(ProviderSandbox):
    name = "omise"
    title = "Omise"

    @property
    def account(self) -> OmiseSettings:
        """The account the adapter is configured with: the sandbox checks the same one."""
        return self.settings.payments.omise

    def api_routes(self) -> list[BaseRoute]:
        return [
            Route("/tokens", self._tokens, methods=["POST"]),
            Route("/sources", self._sources, methods=["POST"]),
            Route("/charges", self._create_charge, methods=["POST"]),
            Route("/charges/{id}", self._get_charge, methods=["GET"]),
            Route("/charges/{id}/refunds", self._refund, methods=["POST"]),
            Route("/charges/{id}/documents/qrcode.png", self._qr, methods=["GET"]),
            Route("/events/{id}", self._get_event, methods=["GET"]),
        ]

    async def _id(self, prefix: str) -> str:
        return f"{prefix}_test_{await self.store.next_id(self.name):019d}"

    def _key_ok(self, request: Request, *kinds: str) -> bool:
        auth = request.headers.get("authorization", "")
        try:
            key = base64.b64decode(auth.removeprefix("Basic ")).decode().split(":", 1)[0]
        except ValueError:
            return False
        keys = {"public": self.account.public_key,
                "secret": self.account.secret_key.get_secret_value()}
        return auth.startswith("Basic ") and any(key == keys[k] for k in kinds)

    @staticmethod
    async def _form(request: Request) -> dict[str, str]:
        return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))

    async def _tokens(self, request: Request) -> Response:
        if not self._key_ok(request, "public"):
            return _error(401, "authentication_failure", "authentication failed")
        form = await self._form(request)
        if form.get("tokenization[method]") not in CARD_METHODS or not form.get(
            "tokenization[data]"
        ):
            return _error(400, "invalid_card", "tokenization data is invalid")
        return JSONResponse({"object": "token", "id": await self._id("tokn"), "used": False,
                             "card": {"object": "card", "brand": "Visa", "last_digits": "4242"},
                             "tokenization": form["tokenization[method]"]})

    async def _sources(self, request: Request) -> Response:
        if not self._key_ok(request, "public", "secret"):
            return _error(401, "authentication_failure", "authentication failed")
        form = await self._form(request)
        kind = form.get("type")
        if kind not in ("promptpay", "truemoney") or not form.get("amount", "").isdigit():
            return _error(400, "invalid_source", "type or amount is invalid")
        if kind == "truemoney" and not form.get("phone_number"):
            return _error(400, "invalid_source", "phone_number is required")
        source_id = await self._id("src")
        source = {"object": "source", "id": source_id, "type": kind,
                  "flow": "offline" if kind == "promptpay" else "redirect",
                  "amount": int(form["amount"]), "currency": form.get("currency", "").lower(),
                  "phone_number": form.get("phone_number")}
        await self.store.put("omise-source", source_id, source)
        return JSONResponse(source)

    async def _create_charge(self, request: Request) -> Response:
        if not self._key_ok(request, "secret"):
            return _error(401, "authentication_failure", "authentication failed")
        form = await self._form(request)
        metadata = {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}
        ref = metadata.get("trade_no", "")
        if not ref or not form.get("amount", "").isdigit():
            return _error(400, "invalid_charge", "amount and metadata[trade_no] are required")
        charge_id = await self._id("chrg")
        charge: dict[str, Any] = {
            "object": "charge", "id": charge_id, "livemode": False,
            "amount": int(form["amount"]), "currency": form.get("currency", "").lower(),
            "description": form.get("description"), "status": "pending",
            "authorized": False, "paid": False, "authorize_uri": self.pay_url(ref),
            "return_uri": form.get("return_uri"), "refunded_amount": 0, "metadata": metadata,
            "source": None, "card": None, "failure_code": None,
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if form.get("card"):  # 3-D Secure: the shopper authorizes at authorize_uri
            charge["card"] = {"object": "card", "brand": "Visa", "last_digits": "4242"}
        elif form.get("source"):
            source = await self.store.get("omise-source", form["source"])
            if source is None:
                return _error(404, "not_found", "source was not found")
            if source["type"] == "promptpay":
                charge["authorize_uri"] = None
                source["scannable_code"] = {
                    "object": "barcode", "type": "qr",
                    "image": {"object": "document", "filename": "qrcode.png",
                              "download_uri":
                                  f"{self.base_url}/charges/{charge_id}/documents/qrcode.png"},
                }
            charge["source"] = source
        else:
            return _error(400, "invalid_charge", "card or source is required")
        await self.remember("charge", charge_id, ref)
        await self.save(ref, {"charge": charge, "amount": f"{charge['amount'] / 100:.2f}",
                              "currency": form.get("currency", ""),
                              "description": charge["description"] or ""})
        return JSONResponse(charge)

    async def _known_charge(self, request: Request) -> tuple[str, dict[str, Any]] | Response:
        """(ref, trade) of the `{id}` charge for a secret-key call, or Omise's error."""
        if not self._key_ok(request, "secret"):
            return _error(401, "authentication_failure", "authentication failed")
        found = await self.trade_by("charge", request.path_params["id"])
        return found or _error(404, "not_found", "charge was not found")

    async def _get_charge(self, request: Request) -> Response:
        known = await self._known_charge(request)
        return known if isinstance(known, Response) else JSONResponse(known[1]["charge"])

    async def _qr(self, request: Request) -> Response:
        known = await self._known_charge(request)
        if isinstance(known, Response):
            return known
        return Response(promptpay_qr.render_png(self.pay_url(known[0])), media_type="image/png")

    async def _refund(self, request: Request) -> Response:
        known = await self._known_charge(request)
        if isinstance(known, Response):
            return known
        ref, trade = known
        charge = trade["charge"]
        amount_text = (await self._form(request)).get("amount", "")
        amount = int(amount_text) if amount_text.isdigit() else 0
        if charge["status"] != "successful" or not 0 < amount <= (
            charge["amount"] - charge["refunded_amount"]
        ):
            return _error(400, "failed_refund", "charge cannot be refunded")
        charge["refunded_amount"] += amount
        refund = {"object": "refund", "id": await self._id("rfnd"), "amount": amount,
                  "currency": charge["currency"], "charge": charge["id"], "voided": False}
        await self.save(ref, trade)
        await self._event("refund.create", refund)
        return JSONResponse(refund)

    async def _get_event(self, request: Request) -> Response:
        if not self._key_ok(request, "secret"):
            return _error(401, "authentication_failure", "authentication failed")
        event = await self.store.get("omise-event", request.path_params["id"])
        return JSONResponse(event) if event else _error(404, "not_found", "event was not found")

    async def _event(self, key: str, data: dict[str, Any]) -> dict[str, Any]:
        event_id = await self._id("evnt")
        event = {"object": "event", "id": event_id, "livemode": False,
                 "key": key, "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "data": data}
        await self.store.put("omise-event", event_id, event)
        return event

    async def complete(self, app: ASGIApp, ref: str, outcome: Outcome) -> Completion:
        trade, again = await self.decide(ref, outcome)
        charge = trade["charge"]
        if not again:
            paid = outcome == "paid"
            charge.update(status="successful" if paid else "failed", paid=paid, authorized=paid,
                          failure_code=None if paid else "payment_rejected")
            event = await self._event("charge.complete", charge)
            trade.update(outcome=outcome, event_id=event["id"])
            await self.save(ref, trade)
        stored = await self.store.get("omise-event", trade["event_id"])
        sent = await deliver(app, self.webhook_url, content=exactjson.dumps(stored).encode(),
                             headers={"Content-Type": "application/json"})
        return Completion(sent.status, charge.get("return_uri") or "", redelivered=again)
