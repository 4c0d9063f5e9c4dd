"""Production refuses public sandbox payment credentials; development runs on them."""

from __future__ import annotations

from typing import Any

import pytest

from shared.config.payments import (
    PAYMENT_PROVIDERS,
    TWOC2P_DEV_MERCHANT_KEY_FILE,
    TwoC2PSettings,
)
from shared.errors import ConfigError
from shared.settings import CommerceSettings
from tests.fakes.payments import twoc2p as fake_2c2p

# `payments=` overrides: every enabled provider on its own (production) account.
PRODUCTION_VALUES: dict[str, Any] = {
    "ecpay": {"merchant_id": "3999999", "hash_key": "k" * 16, "hash_iv": "i" * 16,
              "base_url": "https://payment.ecpay.com.tw"},
    "newebpay": {"merchant_id": "MS999", "hash_key": "k" * 32, "hash_iv": "i" * 16,
                 "base_url": "https://core.newebpay.com"},
    "linepay": {"channel_id": "1655555555", "channel_secret": "real-secret",
                "base_url": "https://api-pay.line.me"},
    "omise": {"public_key": "pkey_5xlive", "secret_key": "skey_5xlive"},
    "twoc2p": {"merchant_id": "764764000001", "secret_key": "S" * 64,
               "base_url": "https://pgw.2c2p.com",
               "maintenance_url": "https://t.2c2p.com/PaymentAction/2.0/action",
               "merchant_private_key": fake_2c2p.MERCHANT_PRIVATE_PEM,
               "public_key": fake_2c2p.PROVIDER_PUBLIC_PEM},
    "tappay": {"partner_key": "partner_live", "merchant_id": "shop_CTBC",
               "base_url": "https://prod.tappaysdk.com"},
    "promptpay": {"id": "0899999999"},
}


def merged(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`base` with `changes`, dicts merged key by key (one provider's one setting)."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = merged(out.get(key, {}), **value) if isinstance(value, dict) else value
    return out


def without(base: dict[str, Any], provider: str, *names: str) -> dict[str, Any]:
    return {**base, provider: {k: v for k, v in base[provider].items() if k not in names}}


def settings(payments: dict[str, Any] | None = None) -> CommerceSettings:
    return CommerceSettings(app_env="production", payments=payments or {},
                            _env_file=None)  # type: ignore[call-arg]


def test_defaults_are_the_public_sandboxes() -> None:
    dev = CommerceSettings(_env_file=None)  # type: ignore[call-arg]
    assert dev.payments.ecpay.merchant_id == "3002607"
    assert dev.payments.ecpay.hash_key.get_secret_value() == "pwFHCqoQZGmho4w6"
    assert dev.payments.ecpay.hash_iv.get_secret_value() == "EkRm7iFT261dpevs"
    assert "stage" in dev.payments.ecpay.base_url and "sandbox" in dev.payments.linepay.base_url
    assert dev.payments.omise.secret_key.get_secret_value().startswith("skey_test_")
    dev.check_production_safety()  # development: no complaint


def test_production_lists_every_provider_on_a_sandbox_credential() -> None:
    problems = settings().payments.production_problems()
    assert len(problems) == 1
    line = problems[0]
    for provider in PAYMENT_PROVIDERS:
        assert provider in line
    with pytest.raises(ConfigError, match="payment providers still on public sandbox"):
        settings().check_production_safety()


def test_one_stale_value_or_a_test_key_names_just_that_provider() -> None:
    assert settings(PRODUCTION_VALUES).payments.production_problems() == []
    stale = settings(merged(PRODUCTION_VALUES, ecpay={"hash_iv": "EkRm7iFT261dpevs"}))
    assert stale.payments.production_problems()[0].split(": ")[1].startswith("ecpay (")
    test_key = settings(merged(PRODUCTION_VALUES, omise={"secret_key": "skey_test_mine"}))
    assert "omise" in test_key.payments.production_problems()[0]


def test_disabled_providers_are_not_checked() -> None:
    only_omise = settings(merged(PRODUCTION_VALUES, enabled=["omise"],
                                 ecpay={"merchant_id": "3002607"}))
    assert only_omise.payments.production_problems() == []


def test_2c2p_refund_keys_must_be_real_in_production() -> None:
    """Unset keys mean the generated development pair would sign refunds: refused."""
    no_keys = without(PRODUCTION_VALUES, "twoc2p", "merchant_private_key", "public_key")
    [line] = settings(no_keys).payments.production_problems()
    assert "twoc2p" in line and "TWOC2P_MERCHANT_PRIVATE_KEY" in line
    dev_file = settings(merged(no_keys, twoc2p={
        "public_key": fake_2c2p.PROVIDER_PUBLIC_PEM,
        "merchant_private_key_file": TWOC2P_DEV_MERCHANT_KEY_FILE}))
    assert "twoc2p" in dev_file.payments.production_problems()[0]
    sandbox_host = settings(merged(PRODUCTION_VALUES, twoc2p={
        "maintenance_url": TwoC2PSettings.model_fields["maintenance_url"].default}))
    assert "twoc2p" in sandbox_host.payments.production_problems()[0]
    with pytest.raises(ConfigError, match="twoc2p"):
        settings(no_keys).check_production_safety()
