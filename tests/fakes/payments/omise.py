"""Fake Omise API + vault: basic auth with the documented key kinds, charges, sources, events.

Objects have Omise's shapes (`object`, `id`, `amount` in satang, lower-case `currency`,
`status` pending|successful|failed, `metadata`, `source.scannable_code.image.download_uri`,
`authorize_uri`); errors are `{"object": "error", "code", "message"}`. Omise's webhooks are not
signed, so `complete()` returns the event as Omise would post it and the adapter must re-fetch
`GET /events/{id}` to trust it. One app serves both `api.omise.co` and `vault.omise.co` paths.
"""

from __future__ import annotations

import base64
import itertools
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from commerce.payment_wire import promptpay_qr

PUBLIC_KEY = "pkey_test_4xs68olyuul9lmmp375"
SECRET_KEY = "skey_test_4xs68olyuul9lmmp375"


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"object": "error", "location": "https://www.omise.co/api-errors",
                         "code": code, "message": message}, status_code=status)


class FakeOmise:
    def __init__(self) -> None:
        self.base_url = ""
        self.charges: dict[str, dict[str, Any]] = {}
        self.sources: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self._seq = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/tokens", self._tokens, methods=["POST"]),
                Route("/sources", self._sources, methods=["POST"]),
                Route("/charges", self._create_charge, methods=["POST"]),
                Route("/charges/{id}", self._get_charge, methods=["GET"]),
                Route("/charges/{id}/refunds", self._refund, methods=["POST"]),
                Route("/charges/{id}/documents/qrcode.png", self._qr, methods=["GET"]),
                Route("/events/{id}", self._get_event, methods=["GET"]),
            ]
        )

    def _id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self._seq):019d}"

    @staticmethod
    def _key(request: Request) -> str:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Basic "):
            return ""
        return base64.b64decode(auth[6:]).decode().split(":", 1)[0]

    def _guard(self, request: Request, *allowed: str) -> JSONResponse | None:
        if self._key(request) not in allowed:
            return _error(401, "authentication_failure", "authentication failed")
        return None

    async def _form(self, request: Request) -> dict[str, str]:
        return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))

    async def _tokens(self, request: Request) -> Response:
        if denied := self._guard(request, PUBLIC_KEY):
            return denied
        form = await self._form(request)
        if form.get("tokenization[method]") not in {"applepay", "googlepay"} or not form.get(
            "tokenization[data]"
        ):
            return _error(400, "invalid_card", "tokenization data is invalid")
        token = {"object": "token", "id": self._id("tokn"), "used": False,
                 "card": {"object": "card", "brand": "Visa", "last_digits": "4242"},
                 "tokenization": form["tokenization[method]"]}
        self.tokens[token["id"]] = token
        return JSONResponse(token)

    async def _sources(self, request: Request) -> Response:
        if denied := self._guard(request, PUBLIC_KEY, SECRET_KEY):
            return denied
        form = await self._form(request)
        source = {"object": "source", "id": self._id("src"), "type": form.get("type"),
                  "flow": "offline" if form.get("type") == "promptpay" else "redirect",
                  "amount": int(form["amount"]), "currency": form["currency"].lower(),
                  "phone_number": form.get("phone_number")}
        self.sources[source["id"]] = source
        return JSONResponse(source)

    async def _create_charge(self, request: Request) -> Response:
        if denied := self._guard(request, SECRET_KEY):
            return denied
        form = await self._form(request)
        charge_id = self._id("chrg")
        charge: dict[str, Any] = {
            "object": "charge", "id": charge_id, "livemode": False,
            "amount": int(form["amount"]), "currency": form["currency"].lower(),
            "description": form.get("description"), "status": "pending",
            "authorized": False, "paid": False, "authorize_uri": None,
            "return_uri": form.get("return_uri"), "refunded_amount": 0,
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            "source": None, "card": None, "failure_code": None,
        }
        if "card" in form:
            if form["card"] == "tokn_test_declined":
                charge.update(status="failed", failure_code="insufficient_fund")
            else:
                charge.update(status="successful", authorized=True, paid=True,
                              card={"object": "card", "last_digits": "4242"})
        elif "source" in form:
            source = dict(self.sources[form["source"]])
            if source["type"] == "promptpay":
                source["scannable_code"] = {
                    "object": "barcode", "type": "qr",
                    "image": {"object": "document", "filename": "qrcode.png",
                              "download_uri":
                                  f"{self.base_url}/charges/{charge_id}/documents/qrcode.png"},
                }
            else:
                charge["authorize_uri"] = f"{self.base_url}/pay/{charge_id}/authorize"
            charge["source"] = source
        else:
            return _error(400, "invalid_charge", "card or source is required")
        self.charges[charge_id] = charge
        if charge["status"] != "pending":
            self._event("charge.create", charge)
        return JSONResponse(charge)

    async def _get_charge(self, request: Request) -> Response:
        if denied := self._guard(request, SECRET_KEY):
            return denied
        charge = self.charges.get(request.path_params["id"])
        return JSONResponse(charge) if charge else _error(404, "not_found", "charge not found")

    async def _qr(self, request: Request) -> Response:
        if denied := self._guard(request, SECRET_KEY):
            return denied
        charge = self.charges[request.path_params["id"]]
        text = promptpay_qr.payload("0812345678", amount=Decimal(charge["amount"]) / 100)
        return Response(promptpay_qr.render_png(text), media_type="image/png")

    async def _refund(self, request: Request) -> Response:
        if denied := self._guard(request, SECRET_KEY):
            return denied
        charge = self.charges.get(request.path_params["id"])
        if charge is None:
            return _error(404, "not_found", "charge not found")
        amount = int((await self._form(request))["amount"])
        if charge["status"] != "successful" or amount > charge["amount"] - charge[
            "refunded_amount"
        ]:
            return _error(400, "failed_refund", "charge cannot be refunded")
        charge["refunded_amount"] += amount
        refund = {"object": "refund", "id": self._id("rfnd"), "amount": amount,
                  "currency": charge["currency"], "charge": charge["id"]}
        self._event("refund.create", refund)
        return JSONResponse(refund)

    async def _get_event(self, request: Request) -> Response:
        if denied := self._guard(request, SECRET_KEY):
            return denied
        event = self.events.get(request.path_params["id"])
        return JSONResponse(event) if event else _error(404, "not_found", "event not found")

    def _event(self, key: str, data: dict[str, Any]) -> dict[str, Any]:
        event = {"object": "event", "id": self._id("evnt"), "livemode": False, "key": key,
                 "created_at": "2024-11-24T12:00:00Z", "data": json.loads(json.dumps(data))}
        self.events[event["id"]] = event
        return event

    def complete(
        self, charge_id: str, *, status: str = "successful", amount: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        """The shopper pays (or not): a `charge.complete` webhook as Omise would post it."""
        charge = self.charges[charge_id]
        charge["status"] = status
        charge["paid"] = charge["authorized"] = status == "successful"
        if amount is not None:
            charge["amount"] = amount
        event = self._event("charge.complete", charge)
        return {"content-type": "application/json"}, json.dumps(event).encode()
