"""Direct PromptPay QR (EMVCo "tag 29") into our own bank account: display only.

A self-generated PromptPay QR pays straight into a bank account. Banks send the payee no
notification and offer no API to ask, so this method has **no automated confirmation**: the
payment stays `pending` until someone reconciles the bank statement by hand, and it cannot be
refunded through an API. For automatically confirmed PromptPay use Omise's `promptpay` source
(method `promptpay` routes there when Omise is enabled); this adapter is the fallback when it
is not. Notifications for it are refused like forgeries because none can exist.
"""

from __future__ import annotations

import base64
from decimal import Decimal

from commerce.payment_wire import promptpay_qr
from commerce.payment_wire.wire_errors import SignatureMismatch
from commerce.payments.errors import UnsupportedPayment
from commerce.payments.gateways.base import (
    CreatedPayment,
    GatewayDefaults,
    ParsedNotification,
    PaymentRequest,
    RawNotification,
    VerifiedNotification,
)


class PromptPayGateway(GatewayDefaults):
    name = "promptpay"

    def __init__(self, promptpay_id: str) -> None:
        self.promptpay_id = promptpay_id

    async def create_payment(self, request: PaymentRequest) -> CreatedPayment:
        if request.currency != "THB":
            raise UnsupportedPayment("PromptPay takes THB only")
        text = promptpay_qr.payload(
            self.promptpay_id, amount=Decimal(request.amount_minor) / 100
        )
        image = base64.b64encode(promptpay_qr.render_png(text)).decode("ascii")
        return CreatedPayment(action={"type": "qr", "payload": text, "image_png_base64": image})

    async def verify_notification(self, raw: RawNotification) -> VerifiedNotification:
        raise SignatureMismatch("direct PromptPay has no notifications")

    def parse_notification(self, verified: VerifiedNotification) -> ParsedNotification:
        raise SignatureMismatch("direct PromptPay has no notifications")
