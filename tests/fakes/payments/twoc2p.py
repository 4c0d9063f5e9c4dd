"""Fake 2C2P PGW v4.3: JWT-verified paymentToken / paymentInquiry, JWT backend notifications,
and the Payment Maintenance (Payment Action) refund.

Bodies are `{"payload": <HS256 JWT>}` both ways, signed with the merchant's secret key, as in
developer.2c2p.com; a request that does not verify gets the unsigned `{"respCode": "9042"}`
2C2P answers for a bad signature.

Refunds follow developer.2c2p.com/docs/payment-maintenance-refund-guide: the body is a compact
JWS (PS256, merchant's private key) around a JWE (RSA-OAEP + A256GCM, to 2C2P's public key) of
a `<PaymentProcessRequest>`; the answer is a `<PaymentProcessResponse>` sealed the other way
(encrypted to the merchant's public key, signed with 2C2P's key), with the result codes of
docs/reference-codes-payment-action-result-code ("00" success, "40" refund above the
transaction amount, ...). What 2C2P answers to a request whose signature does not verify is
not documented; this fake answers HTTP 401 and never decrypts such a request.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from commerce.payment_wire import exactjson, twoc2p_jwt, twoc2p_keys
from commerce.payment_wire import twoc2p_maintenance as maint
from commerce.payment_wire.wire_errors import SignatureMismatch, WireFormatError

MERCHANT_ID = "JT01"
SECRET_KEY = "1F4EDB965BBB3094F791A83750FBDCDA3852131CB5218E21E4F42929A1975E60"
MAINTENANCE_PATH = "/2C2PFrontend/PaymentAction/2.0/action"
# RSA keys, generated once per test process (2C2P publishes no sample key pair): the merchant's
# (its public half is what a merchant uploads to the portal) and 2C2P's own.
MERCHANT_PRIVATE_PEM = twoc2p_keys.generate_private_pem()
MERCHANT_PUBLIC_PEM = twoc2p_keys.public_pem_of(MERCHANT_PRIVATE_PEM)
PROVIDER_PRIVATE_PEM = twoc2p_keys.generate_private_pem()
PROVIDER_PUBLIC_PEM = twoc2p_keys.public_pem_of(PROVIDER_PRIVATE_PEM)


class FakeTwoC2P:
    def __init__(self, *, secret: str = SECRET_KEY) -> None:
        self.secret = secret
        self.base_url = ""
        self.invoices: dict[str, dict[str, Any]] = {}
        self.refunds: list[dict[str, str]] = []  # accepted refund requests, as decrypted
        self.rejected = 0  # maintenance requests refused before decryption (bad signature)
        # The key 2C2P signs its maintenance answers with; a test swaps it to forge answers.
        self.signing_key_pem = PROVIDER_PRIVATE_PEM
        self._seq = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/payment/4.3/paymentToken", self._token, methods=["POST"]),
                Route("/payment/4.3/paymentInquiry", self._inquiry, methods=["POST"]),
                Route(MAINTENANCE_PATH, self._maintenance, methods=["POST"]),
            ]
        )

    @property
    def maintenance_url(self) -> str:
        return f"{self.base_url}{MAINTENANCE_PATH}"

    def _signed(self, claims: dict[str, Any]) -> Response:
        return Response(twoc2p_jwt.request_body(claims, self.secret),
                        media_type="application/json")

    async def _claims(self, request: Request) -> dict[str, Any] | None:
        try:
            claims = twoc2p_jwt.verify_notification(await request.body(), self.secret)
        except WireFormatError:
            return None
        return claims if claims.get("merchantID") == MERCHANT_ID else None

    async def _token(self, request: Request) -> Response:
        claims = await self._claims(request)
        if claims is None:
            return Response(exactjson.dumps({"respCode": "9042", "respDesc": "Invalid hash"}),
                            media_type="application/json")
        token = f"kSAops9Zwhos8hSTSeLTUcCqQ{next(self._seq):020d}"
        self.invoices[claims["invoiceNo"]] = {"request": claims, "token": token}
        return self._signed({"webPaymentUrl": f"{self.base_url}/payment/4.3/pay/{token}",
                             "paymentToken": token, "respCode": "0000",
                             "respDesc": "Success"})

    async def _inquiry(self, request: Request) -> Response:
        claims = await self._claims(request)
        invoice = self.invoices.get((claims or {}).get("invoiceNo", ""))
        if claims is None or invoice is None:
            return Response(exactjson.dumps({"respCode": "4005", "respDesc": "not found"}),
                            media_type="application/json")
        return self._signed(self._result(claims["invoiceNo"], invoice.get("paid_code", "0001")))

    def _result(self, invoice_no: str, code: str, amount: Decimal | None = None) -> dict[str, Any]:
        request = self.invoices[invoice_no]["request"]
        invoice = self.invoices[invoice_no]
        invoice.setdefault("tran_ref", f"{next(self._seq):07d}")
        return {
            "merchantID": MERCHANT_ID, "invoiceNo": invoice_no, "cardNo": "411111XXXXXX1111",
            "amount": request["amount"] if amount is None else amount,
            "userDefined1": "", "currencyCode": request["currencyCode"],
            "tranRef": invoice["tran_ref"], "referenceNo": "2411240000001",
            "approvalCode": "123456", "eci": "05", "transactionDateTime": "20241124120000",
            "agentCode": "OCBC", "channelCode": "VI", "issuerCountry": "TH",
            "respCode": code, "respDesc": "Success" if code == "0000" else "Declined",
        }

    def notification(
        self, invoice_no: str, *, code: str = "0000", amount: Decimal | None = None,
        secret: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The backend notification 2C2P posts to backendReturnUrl."""
        self.invoices[invoice_no]["paid_code"] = code
        claims = self._result(invoice_no, code, amount)
        if code == "0000":  # what the shopper actually paid is what can be refunded
            self.invoices[invoice_no]["paid_amount"] = Decimal(str(claims["amount"]))
        body = twoc2p_jwt.request_body(claims, secret or self.secret)
        return {"content-type": "application/json"}, body.encode()

    # --- Payment Maintenance (refund) ---------------------------------------------------

    async def _maintenance(self, request: Request) -> Response:
        body = await request.body()
        inbound = maint.KeyPair(maint.private_key(PROVIDER_PRIVATE_PEM),
                                maint.public_key(MERCHANT_PUBLIC_PEM))
        try:
            plaintext = maint.unseal(body, inbound)
        except SignatureMismatch:  # unsigned, forged or tampered: nothing is decrypted
            self.rejected += 1
            return Response("Unauthorized", status_code=401, media_type="text/plain")
        except WireFormatError:
            return self._sealed({"respCode": "96", "respDesc": "Unable to decrypt."})
        try:
            fields = maint.parse_xml(plaintext, maint.REQUEST_TAG)
        except WireFormatError:
            return self._sealed({"respCode": "02", "respDesc": "Invalid Request"})
        return self._sealed(self._refund(fields))

    def _refund(self, fields: dict[str, str]) -> dict[str, str]:
        invoice_no = fields.get("invoiceNo", "")
        base = {"processType": fields.get("processType", ""), "invoiceNo": invoice_no}
        invoice = self.invoices.get(invoice_no)
        try:
            amount = Decimal(fields.get("actionAmount", ""))
        except InvalidOperation:
            amount = Decimal(-1)
        if fields.get("merchantID") != MERCHANT_ID:
            return {**base, "respCode": "14", "respDesc": "Invalid merchant ID."}
        if fields.get("processType") != "R":
            return {**base, "respCode": "97", "respDesc": "Process is not supported."}
        if invoice is None:
            return {**base, "respCode": "16", "respDesc": "Requested transaction doesn't exist."}
        if "paid_amount" not in invoice:
            return {**base, "respCode": "12",
                    "respDesc": "Transaction status is not valid to perform your action."}
        if amount <= 0 or amount.as_tuple().exponent != -2:
            return {**base, "respCode": "18", "respDesc": "Invalid Action Amount."}
        refunded = invoice.get("refunded", Decimal(0))
        if refunded >= invoice["paid_amount"]:
            return {**base, "respCode": "49", "respDesc": "Transaction is already fully refunded."}
        if refunded + amount > invoice["paid_amount"]:
            return {**base, "respCode": "40",
                    "respDesc": "Refund amount is more than transaction amount."}
        invoice["refunded"] = refunded + amount
        self.refunds.append(fields)
        return {**base, "amount": str(amount), "status": "RF",
                "referenceNo": f"RF{next(self._seq):010d}",
                "respCode": "00", "respDesc": "Success"}

    def _sealed(self, fields: dict[str, str]) -> Response:
        """A `PaymentProcessResponse` encrypted to the merchant and signed by "2C2P"."""
        now = datetime.now(UTC)
        document = maint.build_xml(maint.RESPONSE_TAG, [
            ("version", maint.VERSION), ("timeStamp", now.strftime("%d%m%y%H%M%S")),
            *fields.items(), ("transactionDateTime", now.strftime("%Y%m%d%H%M%S")),
        ])
        outbound = maint.KeyPair(maint.private_key(self.signing_key_pem),
                                 maint.public_key(MERCHANT_PUBLIC_PEM))
        return Response(maint.seal(document, outbound), media_type="text/plain")
