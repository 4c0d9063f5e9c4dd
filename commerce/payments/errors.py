"""Domain errors of payments; the one error handler renders them as the contract's envelope."""

from __future__ import annotations

from shared.errors import AppError


class PaymentProviderError(AppError):
    """The provider answered with an error or not at all (its problem, not the caller's)."""

    code = "payment_provider_error"
    status = 502
    message = "the payment provider could not process the request"


class UnsupportedPayment(AppError):
    """The method cannot take this order (wrong currency, missing token, ...)."""

    code = "payment_method_unsupported"
    status = 422
    message = "this payment method cannot be used for this order"


class RefundUnsupported(AppError):
    """No refund API we can call: direct PromptPay, or 2C2P without its maintenance keys."""

    code = "refund_unsupported"
    status = 409
    message = "this payment cannot be refunded automatically; refund it manually"


class InvalidSignature(AppError):
    """A webhook that fails verification: 400, nothing stored, logged."""

    code = "invalid_signature"
    status = 400
    message = "the notification could not be verified"
