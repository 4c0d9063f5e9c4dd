"""Production refuses public sandbox payment credentials; development runs on them."""

from __future__ import annotations

import pytest

from shared.errors import ConfigError
from shared.settings import PAYMENT_SANDBOX_DEFAULTS, CommerceSettings

PRODUCTION_VALUES: dict[str, str] = {
    "ecpay_merchant_id": "3999999", "ecpay_hash_key": "k" * 16, "ecpay_hash_iv": "i" * 16,
    "ecpay_base_url": "https://payment.ecpay.com.tw",
    "newebpay_merchant_id": "MS999", "newebpay_hash_key": "k" * 32, "newebpay_hash_iv": "i" * 16,
    "newebpay_base_url": "https://core.newebpay.com",
    "linepay_channel_id": "1655555555", "linepay_channel_secret": "real-secret",
    "linepay_base_url": "https://api-pay.line.me",
    "omise_public_key": "pkey_5xlive", "omise_secret_key": "skey_5xlive",
    "twoc2p_merchant_id": "764764000001", "twoc2p_secret_key": "S" * 64,
    "twoc2p_base_url": "https://pgw.2c2p.com",
    "promptpay_id": "0899999999",
}


def settings(**overrides: object) -> CommerceSettings:
    return CommerceSettings(app_env="production", _env_file=None, **overrides)  # type: ignore[call-arg]


def test_defaults_are_the_public_sandboxes() -> None:
    dev = CommerceSettings(_env_file=None)  # type: ignore[call-arg]
    assert dev.ecpay_merchant_id == "3002607"
    assert dev.ecpay_hash_key.get_secret_value() == "pwFHCqoQZGmho4w6"
    assert dev.ecpay_hash_iv.get_secret_value() == "EkRm7iFT261dpevs"
    assert "stage" in dev.ecpay_base_url and "sandbox" in dev.linepay_base_url
    assert dev.omise_secret_key.get_secret_value().startswith("skey_test_")
    dev.check_production_safety()  # development: no complaint


def test_production_lists_every_provider_on_a_sandbox_credential() -> None:
    problems = settings()._payment_production_problems()
    assert len(problems) == 1
    line = problems[0]
    for provider in PAYMENT_SANDBOX_DEFAULTS:
        assert provider in line
    with pytest.raises(ConfigError, match="payment providers still on public sandbox"):
        settings().check_production_safety()


def test_one_stale_value_or_a_test_key_names_just_that_provider() -> None:
    assert settings(**PRODUCTION_VALUES)._payment_production_problems() == []
    stale = settings(**{**PRODUCTION_VALUES, "ecpay_hash_iv": "EkRm7iFT261dpevs"})
    assert stale._payment_production_problems()[0].split(": ")[1].startswith("ecpay (")
    test_key = settings(**{**PRODUCTION_VALUES, "omise_secret_key": "skey_test_mine"})
    assert "omise" in test_key._payment_production_problems()[0]


def test_disabled_providers_are_not_checked() -> None:
    only_omise = settings(**{**PRODUCTION_VALUES, "payments_enabled": ["omise"],
                             "ecpay_merchant_id": "3002607"})
    assert only_omise._payment_production_problems() == []
