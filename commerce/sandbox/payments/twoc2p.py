"""2C2P PGW v4.3 sandbox: payment token, inquiry, backend notification, Payment Maintenance.

As on developer.2c2p.com: requests and replies are `{"payload": <HS256 JWT>}` signed with the
merchant's secret key (an unverifiable request gets the bare `{"respCode": "9042"}`); the
backend notification is the same envelope posted to `backendReturnUrl` (`respCode "0000"`
paid); the shopper returns to `frontendReturnUrl`. Refunds (Payment Maintenance, processType
`R`, partial amounts allowed) arrive as a JWS (PS256, merchant key) around a JWE (RSA-OAEP +
A256GCM) to "2C2P's" key, and are answered sealed the other way. The sandbox's own RSA pair
stands in for 2C2P's, generated once under var/ like the development merchant key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from commerce.payment_wire import exactjson, twoc2p_jwt, twoc2p_keys
from commerce.payment_wire import twoc2p_maintenance as maint
from commerce.payment_wire.wire_errors import SignatureMismatch, WireFormatError
from commerce.sandbox.payments.base import Completion, Outcome, ProviderSandbox, deliver
from shared.config.payments import TwoC2PSettings
from shared.keyfiles import dev_key, public_pem_of
from shared.settings import VAR_DIR

MAINTENANCE_PATH = "/2C2PFrontend/PaymentAction/2.0/action"
SANDBOX_KEY_FILE = VAR_DIR / "dev-twoc2p-sandbox-provider-rsa.pem"


def provider_private_pem() -> str:
    """The sandbox's stand-in for 2C2P's RSA key (generated once, shared by local processes)."""
    return dev_key(SANDBOX_KEY_FILE, twoc2p_keys.generate_private_pem)


def provider_public_pem() -> str:
    return public_pem_of(provider_private_pem())


class TwoC2PSandbox(ProviderSandbox):
    name = "twoc2p"
    title = "2C2P"

    @property
    def account(self) -> TwoC2PSettings:
        """The account the adapter is configured with: the sandbox checks the same one."""
        return self.settings.payments.twoc2p

    def api_routes(self) -> list[BaseRoute]:
        return [
            Route("/payment/4.3/paymentToken", self._token, methods=["POST"]),
            Route("/payment/4.3/paymentInquiry", self._inquiry, methods=["POST"]),
            Route(MAINTENANCE_PATH, self._maintenance, methods=["POST"]),
        ]

    @property
    def _secret(self) -> str:
        return self.account.secret_key.get_secret_value()

    def _signed(self, claims: dict[str, Any]) -> Response:
        return Response(twoc2p_jwt.request_body(claims, self._secret),
                        media_type="application/json")

    @staticmethod
    def _unsigned(code: str, desc: str) -> Response:
        return Response(exactjson.dumps({"respCode": code, "respDesc": desc}),
                        media_type="application/json")

    async def _claims(self, request: Request) -> dict[str, Any] | None:
        try:
            claims = twoc2p_jwt.verify_notification(await request.body(), self._secret)
        except WireFormatError:
            return None
        return claims if claims.get("merchantID") == self.account.merchant_id else None

    async def _token(self, request: Request) -> Response:
        claims = await self._claims(request)
        if claims is None:
            return self._unsigned("9042", "Invalid hash")
        ref = str(claims.get("invoiceNo", ""))
        if not ref or await self.trade(ref) is not None:
            return self._unsigned("4003", "Duplicate invoice number")
        token = f"kSAops9Zwhos8hSTSeLTUcCqQ{await self.store.next_id(self.name):020d}"
        await self.save(ref, {"request": claims, "token": token,
                              "amount": str(claims["amount"]), "currency": claims["currencyCode"],
                              "description": claims.get("description", ""), "refunded": "0"})
        return self._signed({"webPaymentUrl": self.pay_url(ref), "paymentToken": token,
                             "respCode": "0000", "respDesc": "Success"})

    def _result(self, ref: str, trade: dict[str, Any]) -> dict[str, Any]:
        code = {"paid": "0000", "failed": "4200"}.get(trade.get("outcome", ""), "0001")
        return {
            "merchantID": self.account.merchant_id, "invoiceNo": ref,
            "cardNo": "411111XXXXXX1111", "amount": trade["request"]["amount"],
            "userDefined1": "", "currencyCode": trade["currency"],
            "tranRef": trade.get("tran_ref", ""), "referenceNo": trade.get("tran_ref", ""),
            "approvalCode": "123456" if code == "0000" else "", "eci": "05",
            "transactionDateTime": trade.get("paid_at", ""), "agentCode": "KBANK",
            "channelCode": "VI", "issuerCountry": "TH", "respCode": code,
            "respDesc": {"0000": "Success", "0001": "Transaction is pending"}.get(
                code, "Transaction is declined"),
        }

    async def _inquiry(self, request: Request) -> Response:
        claims = await self._claims(request)
        ref = str((claims or {}).get("invoiceNo", ""))
        trade = await self.trade(ref) if claims else None
        if trade is None:
            return self._unsigned("4005", "Invoice not found")
        return self._signed(self._result(ref, trade))

    async def complete(self, app: ASGIApp, ref: str, outcome: Outcome) -> Completion:
        trade, again = await self.decide(ref, outcome)
        if not again:
            seq = await self.store.next_id(self.name)
            trade.update(outcome=outcome, tran_ref=f"{seq:07d}",
                         paid_at=datetime.now(UTC).strftime("%Y%m%d%H%M%S"))
            await self.save(ref, trade)
        body = twoc2p_jwt.request_body(self._result(ref, trade), self._secret)
        sent = await deliver(app, trade["request"]["backendReturnUrl"], content=body.encode(),
                             headers={"Content-Type": "application/json"})
        return Completion(sent.status, trade["request"].get("frontendReturnUrl", ""),
                          redelivered=again)

    # --- Payment Maintenance (refund) ---------------------------------------------------

    def _keys(self) -> maint.KeyPair:
        """Ours (2C2P's stand-in) to decrypt and sign; the merchant's public key to verify
        and encrypt to."""
        merchant = public_pem_of(twoc2p_keys.merchant_private_pem(self.settings))
        return maint.KeyPair(maint.private_key(provider_private_pem()), maint.public_key(merchant))

    async def _maintenance(self, request: Request) -> Response:
        keys = self._keys()
        try:
            plaintext = maint.unseal(await request.body(), keys)
        except SignatureMismatch:
            return Response("Unauthorized", status_code=401, media_type="text/plain")
        except WireFormatError:
            return self._sealed({"respCode": "96", "respDesc": "Unable to decrypt."}, keys)
        try:
            fields = maint.parse_xml(plaintext, maint.REQUEST_TAG)
        except WireFormatError:
            return self._sealed({"respCode": "02", "respDesc": "Invalid Request"}, keys)
        return self._sealed(await self._refund(fields), keys)

    async def _refund(self, fields: dict[str, str]) -> dict[str, str]:
        ref = fields.get("invoiceNo", "")
        base = {"processType": fields.get("processType", ""), "invoiceNo": ref}
        trade = await self.trade(ref)
        try:
            amount = Decimal(fields.get("actionAmount", ""))
        except InvalidOperation:
            amount = Decimal(-1)
        if fields.get("merchantID") != self.account.merchant_id:
            return {**base, "respCode": "14", "respDesc": "Invalid merchant ID."}
        if fields.get("processType") != "R":
            return {**base, "respCode": "97", "respDesc": "Process is not supported."}
        if trade is None:
            return {**base, "respCode": "16", "respDesc": "Requested transaction doesn't exist."}
        if trade.get("outcome") != "paid":
            return {**base, "respCode": "12",
                    "respDesc": "Transaction status is not valid to perform your action."}
        paid, refunded = Decimal(trade["amount"]), Decimal(trade["refunded"])
        if refunded >= paid:
            return {**base, "respCode": "49", "respDesc": "Transaction is already fully refunded."}
        if amount <= 0 or refunded + amount > paid:
            return {**base, "respCode": "40",
                    "respDesc": "Refund amount is more than transaction amount."}
        trade["refunded"] = str(refunded + amount)
        await self.save(ref, trade)
        seq = await self.store.next_id(self.name)
        return {**base, "amount": str(amount), "status": "RF", "referenceNo": f"RF{seq:010d}",
                "respCode": "00", "respDesc": "Success"}

    @staticmethod
    def _sealed(fields: dict[str, str], keys: maint.KeyPair) -> Response:
        now = datetime.now(UTC)
        document = maint.build_xml(maint.RESPONSE_TAG, [
            ("version", maint.VERSION), ("timeStamp", now.strftime("%d%m%y%H%M%S")),
            *fields.items(), ("transactionDateTime", now.strftime("%Y%m%d%H%M%S")),
        ])
        return Response(maint.seal(document, keys), media_type="text/plain")
