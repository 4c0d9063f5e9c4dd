"""Adapters built from settings, and which provider serves each payment method of the contract.

`promptpay` goes through Omise's `promptpay` source when Omise is enabled (the provider then
notifies us); only without Omise does it fall back to the direct QR, which nothing confirms.
Apple Pay and Google Pay go through TapPay in TWD and through Omise in THB.

A provider on its local sandbox (`CommerceSettings.uses_local_sandbox`, development only) gets
the same adapter, pointed at the sandbox's URL with an in-process transport
(commerce/sandbox/payments): the adapter's code runs unchanged, with no network.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Literal

from commerce.payment_wire import twoc2p_keys
from commerce.payments.errors import UnsupportedPayment
from commerce.payments.gateways.base import PaymentGateway
from commerce.payments.gateways.ecpay import EcpayConfig, EcpayGateway
from commerce.payments.gateways.linepay import LinepayConfig, LinepayGateway
from commerce.payments.gateways.newebpay import NewebpayConfig, NewebpayGateway
from commerce.payments.gateways.omise import OmiseConfig, OmiseGateway
from commerce.payments.gateways.promptpay import PromptPayGateway
from commerce.payments.gateways.tappay import TappayConfig, TappayGateway
from commerce.payments.gateways.twoc2p import TwoC2PConfig, TwoC2PGateway
from commerce.sandbox.payments import providers as sandbox
from commerce.sandbox.payments.twoc2p import provider_public_pem
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
    sandbox's URL and in-process transport)."""
    if provider == "promptpay" or not settings.uses_local_sandbox(provider):
        return _build(settings, provider)
    local = sandbox.base_url(settings, provider)
    urls: dict[str, str] = {
        "omise": {"omise_api_url": local, "omise_vault_url": local},
        "twoc2p": {"twoc2p_base_url": local,
                   "twoc2p_maintenance_url": sandbox.twoc2p_maintenance_url(settings)},
    }.get(provider, {f"{provider}_base_url": local})
    gateway = _build(settings.model_copy(update=urls), provider)
    if isinstance(gateway, TwoC2PGateway):
        gateway.config = replace(gateway.config, maintenance_keys=lambda: (
            twoc2p_keys.merchant_private_pem(settings), provider_public_pem()))
    gateway.transport = sandbox.transport(settings)  # type: ignore[attr-defined]
    return gateway


def _build(settings: CommerceSettings, provider: str) -> PaymentGateway:
    t = settings.payments_http_timeout_s
    if provider == "ecpay":
        return EcpayGateway(
            EcpayConfig(
                merchant_id=settings.ecpay_merchant_id,
                hash_key=settings.ecpay_hash_key.get_secret_value(),
                hash_iv=settings.ecpay_hash_iv.get_secret_value(),
                base_url=settings.ecpay_base_url,
                accept_simulated_paid=settings.ecpay_accept_simulated_paid,
            ),
            timeout_s=t,
        )
    if provider == "newebpay":
        return NewebpayGateway(
            NewebpayConfig(
                merchant_id=settings.newebpay_merchant_id,
                hash_key=settings.newebpay_hash_key.get_secret_value(),
                hash_iv=settings.newebpay_hash_iv.get_secret_value(),
                base_url=settings.newebpay_base_url,
            ),
            timeout_s=t,
        )
    if provider == "linepay":
        return LinepayGateway(
            LinepayConfig(
                channel_id=settings.linepay_channel_id,
                channel_secret=settings.linepay_channel_secret.get_secret_value(),
                base_url=settings.linepay_base_url,
                return_url=settings.payments_return_url,
            ),
            timeout_s=t,
        )
    if provider == "omise":
        return OmiseGateway(
            OmiseConfig(
                public_key=settings.omise_public_key,
                secret_key=settings.omise_secret_key.get_secret_value(),
                api_url=settings.omise_api_url,
                vault_url=settings.omise_vault_url,
            ),
            timeout_s=t,
        )
    if provider == "twoc2p":
        return TwoC2PGateway(
            TwoC2PConfig(
                merchant_id=settings.twoc2p_merchant_id,
                secret_key=settings.twoc2p_secret_key.get_secret_value(),
                base_url=settings.twoc2p_base_url,
                maintenance_url=settings.twoc2p_maintenance_url,
                maintenance_keys=partial(twoc2p_keys.maintenance_pems, settings),
            ),
            timeout_s=t,
        )
    if provider == "tappay":
        return TappayGateway(
            TappayConfig(
                partner_key=settings.tappay_partner_key.get_secret_value(),
                merchant_id=settings.tappay_merchant_id,
                base_url=settings.tappay_base_url,
            ),
            timeout_s=t,
        )
    if provider == "promptpay":
        return PromptPayGateway(settings.promptpay_id)
    raise UnsupportedPayment(f"unknown payment provider {provider!r}", code="unknown_provider")


def provider_for(settings: CommerceSettings, method: str, currency: str) -> str:
    """The enabled provider that serves `method` in `currency`, or `UnsupportedPayment`."""
    provider = CURRENCY_PROVIDER.get((method, currency), METHOD_PROVIDER.get(method))
    if method == "promptpay" and "omise" not in settings.payments_enabled:
        provider = "promptpay"
    if provider is None or provider not in settings.payments_enabled:
        raise UnsupportedPayment(f"payment method {method!r} is not enabled")
    return provider


def webhook_gateway(settings: CommerceSettings, provider: str) -> PaymentGateway:
    """The adapter for an incoming webhook; unknown or disabled providers are 404s upstream."""
    if provider not in settings.payments_enabled or provider == "promptpay":
        raise UnsupportedPayment(f"no webhooks for {provider!r}", code="unknown_provider")
    return build(settings, provider)
