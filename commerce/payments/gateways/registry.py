"""Adapters built from settings, and which provider serves each payment method of the contract.

`promptpay` goes through Omise's `promptpay` source when Omise is enabled (the provider then
notifies us); only without Omise does it fall back to the direct QR, which nothing confirms.
Apple Pay and Google Pay go through TapPay in TWD and through Omise in THB.

A provider on its local sandbox (`CommerceSettings.uses_local_sandbox`, development only) gets
the same adapter, pointed at the sandbox's URL with an in-process transport
(commerce/sandbox/payments): the adapter's code runs unchanged, with no network.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

from commerce.payment_wire import twoc2p_keys
from commerce.payments.errors import UnsupportedPayment
from commerce.payments.gateways.base import PaymentGateway
from commerce.payments.gateways.ecpay import EcpayGateway
from commerce.payments.gateways.linepay import LinepayGateway
from commerce.payments.gateways.newebpay import NewebpayGateway
from commerce.payments.gateways.omise import OmiseGateway
from commerce.payments.gateways.promptpay import PromptPayGateway
from commerce.payments.gateways.tappay import TappayGateway
from commerce.payments.gateways.twoc2p import TwoC2PGateway
from commerce.sandbox.payments import providers as sandbox
from commerce.sandbox.payments.twoc2p import provider_public_pem
from shared.config.payments import PAYMENT_PROVIDERS, PaymentSettings
from shared.settings import CommerceSettings

Method = Literal[
    "ecpay", "newebpay", "linepay", "omise_card", "promptpay", "truemoney", "twoc2p",
    "applepay", "googlepay",
]
METHOD_PROVIDER: dict[str, str] = {
    "ecpay": "ecpay",
    "newebpay": "newebpay",
    "linepay": "linepay",
    "omise_card": "omise",
    "truemoney": "omise",
    "applepay": "omise",
    "googlepay": "omise",
    "promptpay": "omise",
    "twoc2p": "twoc2p",
}
# Methods whose provider depends on the currency (TapPay documents both wallets for TWD).
CURRENCY_PROVIDER: dict[tuple[str, str], str] = {
    ("applepay", "TWD"): "tappay",
    ("googlepay", "TWD"): "tappay",
}


def build(settings: CommerceSettings, provider: str) -> PaymentGateway:
    """The adapter for `provider` with this process's credentials and timeouts (or its local
    sandbox's URL and in-process transport). Each adapter takes its provider's settings model
    (`settings.payments.<provider>`) as its configuration."""
    payments = settings.payments
    if provider not in PAYMENT_PROVIDERS:
        raise UnsupportedPayment(f"unknown payment provider {provider!r}", code="unknown_provider")
    if provider == "promptpay" or not settings.uses_local_sandbox(provider):
        return _build(settings, payments, provider)
    local = sandbox.base_url(settings, provider)
    if provider == "omise":
        payments = payments.updated(omise={"api_url": local, "vault_url": local})
    elif provider == "twoc2p":
        payments = payments.updated(twoc2p={
            "base_url": local, "maintenance_url": sandbox.twoc2p_maintenance_url(settings)})
    else:
        payments = payments.updated(**{provider: {"base_url": local}})
    gateway = _build(settings, payments, provider, maintenance_keys=lambda: (
        twoc2p_keys.merchant_private_pem(settings), provider_public_pem()))
    gateway.transport = sandbox.transport(settings)  # type: ignore[attr-defined]
    return gateway


def _build(
    settings: CommerceSettings, payments: PaymentSettings, provider: str,
    maintenance_keys: Callable[[], tuple[str, str | None]] | None = None,
) -> PaymentGateway:
    t = payments.http_timeout_s
    if provider == "ecpay":
        return EcpayGateway(payments.ecpay, timeout_s=t)
    if provider == "newebpay":
        return NewebpayGateway(payments.newebpay, timeout_s=t)
    if provider == "linepay":
        return LinepayGateway(payments.linepay, timeout_s=t, return_url=payments.return_url)
    if provider == "omise":
        return OmiseGateway(payments.omise, timeout_s=t)
    if provider == "twoc2p":
        return TwoC2PGateway(
            payments.twoc2p, timeout_s=t,
            maintenance_keys=maintenance_keys or partial(twoc2p_keys.maintenance_pems, settings),
        )
    if provider == "tappay":
        return TappayGateway(payments.tappay, timeout_s=t)
    return PromptPayGateway(payments.promptpay.id)


def provider_for(settings: CommerceSettings, method: str, currency: str) -> str:
    """The enabled provider that serves `method` in `currency`, or `UnsupportedPayment`."""
    provider = CURRENCY_PROVIDER.get((method, currency), METHOD_PROVIDER.get(method))
    if method == "promptpay" and "omise" not in settings.payments.enabled:
        provider = "promptpay"
    if provider is None or provider not in settings.payments.enabled:
        raise UnsupportedPayment(f"payment method {method!r} is not enabled")
    return provider


def webhook_gateway(settings: CommerceSettings, provider: str) -> PaymentGateway:
    """The adapter for an incoming webhook; unknown or disabled providers are 404s upstream."""
    if provider not in settings.payments.enabled or provider == "promptpay":
        raise UnsupportedPayment(f"no webhooks for {provider!r}", code="unknown_provider")
    return build(settings, provider)
