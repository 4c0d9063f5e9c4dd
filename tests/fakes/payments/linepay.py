"""Fake LINE Pay Online API v3: verifies our X-LINE-Authorization on every call.

`/v3/payments/request`, `/v3/payments/requests/{id}/check`, `/v3/payments/{id}/confirm` and
`/v3/payments/{id}/refund`, answering `{returnCode, returnMessage, info}` with 19-digit
transaction ids written as exact JSON integers (as LINE Pay does). `approve()` plays the
shopper approving in the LINE app and returns the confirm-URL query LINE Pay redirects with.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from commerce.payment_wire import linepay_sign

CHANNEL_ID = "1234567890"
CHANNEL_SECRET = "linepay-sandbox-example-secret"


_CURRENCIES = {"TWD": 0, "JPY": 0, "THB": 2, "USD": 2}  # decimals LINE Pay accepts


def request_problem(payload: Any) -> tuple[str, str] | None:
    """What LINE Pay's Request API refuses (Online API v3, "Request"): the required fields, a
    currency's scale, `redirectUrls`, and `packages` whose amounts add up: each package's
    `amount` is the sum of its products' `quantity * price`, and the request's `amount` the sum
    of its packages'. None if the request is acceptable; else (returnCode, returnMessage)."""
    if not isinstance(payload, dict):
        return "2101", "Parameter error."
    currency, amount = payload.get("currency"), payload.get("amount")
    order_id = payload.get("orderId")
    if currency not in _CURRENCIES or not isinstance(order_id, str) or not 0 < len(order_id) <= 100:
        return "2101", "Parameter error."

    def money(value: Any) -> Decimal | None:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            return None
        number = Decimal(value)
        if number <= 0 or -number.as_tuple().exponent > _CURRENCIES[currency]:  # type: ignore[operator]
            return None
        return number

    total = money(amount)
    if total is None:
        return "1124", "Amount info error (scale)."
    urls = payload.get("redirectUrls")
    if not isinstance(urls, dict) or not all(
        isinstance(urls.get(k), str) and urls[k].startswith(("https://", "http://"))
        for k in ("confirmUrl", "cancelUrl")
    ):
        return "2101", "Parameter error. (redirectUrls)"
    packages = payload.get("packages")
    if not isinstance(packages, list) or not packages:
        return "2101", "Parameter error. (packages)"
    package_sum = Decimal(0)
    for package in packages:
        if not isinstance(package, dict) or not isinstance(package.get("id"), str):
            return "2101", "Parameter error. (packages[].id)"
        package_amount = money(package.get("amount"))
        products = package.get("products")
        if package_amount is None or not isinstance(products, list) or not products:
            return "2101", "Parameter error. (packages[].amount/products)"
        product_sum = Decimal(0)
        for product in products:
            price = money(product.get("price")) if isinstance(product, dict) else None
            quantity = product.get("quantity") if isinstance(product, dict) else None
            name = product.get("name") if isinstance(product, dict) else None
            if price is None or not isinstance(quantity, int) or quantity < 1 or not (
                isinstance(name, str) and 0 < len(name) <= 4000
            ):
                return "2101", "Parameter error. (packages[].products[])"
            product_sum += price * quantity
        if product_sum != package_amount:
            return "2101", "Parameter error. (package amount != sum of products)"
        package_sum += package_amount
    if package_sum != total:
        return "2101", "Parameter error. (amount != sum of packages)"
    return None


def _reply(code: str, message: str = "Success.", info: Any = None) -> Response:
    body: dict[str, Any] = {"returnCode": code, "returnMessage": message}
    if info is not None:
        body["info"] = info
    return Response(linepay_sign.dumps(body), media_type="application/json")


class FakeLinepay:
    def __init__(self, *, secret: str = CHANNEL_SECRET) -> None:
        self.secret = secret
        self.base_url = ""
        self.payments: dict[int, dict[str, Any]] = {}
        self.refunds: list[dict[str, Any]] = []
        self.refused: list[tuple[str, str]] = []
        self._seq = itertools.count(2024112400000000001)  # 19 digits, > 2**53
        self.app = Starlette(
            routes=[
                Route("/v3/payments/request", self._request, methods=["POST"]),
                Route("/v3/payments/requests/{txn:int}/check", self._check, methods=["GET"]),
                Route("/v3/payments/{txn:int}/confirm", self._confirm, methods=["POST"]),
                Route("/v3/payments/{txn:int}/refund", self._refund, methods=["POST"]),
            ]
        )

    async def _authentic(self, request: Request) -> tuple[bool, bytes]:
        body = await request.body()
        signed = body.decode() if request.method == "POST" else request.url.query
        ok = request.headers.get(linepay_sign.HEADER_CHANNEL_ID) == CHANNEL_ID and (
            linepay_sign.verify_signature(
                self.secret, request.url.path, signed,
                request.headers.get(linepay_sign.HEADER_NONCE, ""),
                request.headers.get(linepay_sign.HEADER_SIGNATURE, ""),
            )
        )
        return ok, body

    async def _request(self, request: Request) -> Response:
        ok, body = await self._authentic(request)
        if not ok:
            return _reply("1106", "Header information error.")
        payload = linepay_sign.loads(body)
        if problem := request_problem(payload):
            self.refused.append(problem)
            return _reply(*problem)
        txn = next(self._seq)
        self.payments[txn] = {"request": payload, "state": "reserved", "paid": payload["amount"]}
        return _reply("0000", info={
            "paymentUrl": {"web": f"{self.base_url}/web/pay/{txn}", "app": f"line://pay/{txn}"},
            "transactionId": txn, "paymentAccessToken": "187568751124"})

    async def _check(self, request: Request) -> Response:
        ok, _ = await self._authentic(request)
        if not ok:
            return _reply("1106", "Header information error.")
        payment = self.payments.get(request.path_params["txn"])
        if payment is None:
            return _reply("1150", "Transaction record not found.")
        code = {"reserved": "0000", "approved": "0110", "confirmed": "0123",
                "cancelled": "0121"}[payment["state"]]
        return _reply(code)

    async def _confirm(self, request: Request) -> Response:
        ok, body = await self._authentic(request)
        if not ok:
            return _reply("1106", "Header information error.")
        txn = request.path_params["txn"]
        payment = self.payments.get(txn)
        if payment is None:
            return _reply("1150", "Transaction record not found.")
        if payment["state"] != "approved":
            return _reply("1172", "Existing same orderId.")
        asked = linepay_sign.loads(body)
        wanted = payment["request"]
        if Decimal(str(asked["amount"])) != Decimal(str(wanted["amount"])) or (
            asked["currency"] != wanted["currency"]
        ):
            return _reply("1124", "Amount info error (scale).")
        payment["state"] = "confirmed"
        return _reply("0000", info={
            "orderId": wanted["orderId"], "transactionId": txn,
            "payInfo": [{"method": "BALANCE", "amount": payment["paid"]}]})

    async def _refund(self, request: Request) -> Response:
        ok, body = await self._authentic(request)
        if not ok:
            return _reply("1106", "Header information error.")
        txn = request.path_params["txn"]
        if self.payments.get(txn, {}).get("state") != "confirmed":
            return _reply("1165", "A transaction has already been refunded.")
        refund_txn = next(self._seq)
        self.refunds.append({"transactionId": txn, **linepay_sign.loads(body)})
        self.payments[txn]["state"] = "refunded"
        return _reply("0000", info={"refundTransactionId": refund_txn,
                                    "refundTransactionDate": "2024-11-24T12:00:00Z"})

    def approve(self, txn: int | str, *, paid: Any = None) -> dict[str, str]:
        """The shopper approves; `paid` overrides what LINE Pay reports as captured."""
        payment = self.payments[int(txn)]
        payment["state"] = "approved"
        if paid is not None:
            payment["paid"] = paid
        return {"transactionId": str(txn), "orderId": payment["request"]["orderId"]}
