"""Fake 2C2P PGW v4.3: JWT-verified paymentToken / paymentInquiry, JWT backend notifications.

Bodies are `{"payload": <HS256 JWT>}` both ways, signed with the merchant's secret key, as in
developer.2c2p.com; a request that does not verify gets the unsigned `{"respCode": "9042"}`
2C2P answers for a bad signature.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from commerce.payments.gateways import exactjson, twoc2p_jwt
from commerce.payments.gateways.wire_errors import WireFormatError

MERCHANT_ID = "JT01"
SECRET_KEY = "1F4EDB965BBB3094F791A83750FBDCDA3852131CB5218E21E4F42929A1975E60"


class FakeTwoC2P:
    def __init__(self, *, secret: str = SECRET_KEY) -> None:
        self.secret = secret
        self.base_url = ""
        self.invoices: dict[str, dict[str, Any]] = {}
        self._seq = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/payment/4.3/paymentToken", self._token, methods=["POST"]),
                Route("/payment/4.3/paymentInquiry", self._inquiry, methods=["POST"]),
            ]
        )

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
        body = twoc2p_jwt.request_body(claims, secret or self.secret)
        return {"content-type": "application/json"}, body.encode()
