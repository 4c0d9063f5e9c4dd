"""Production refuses public sandbox payment credentials; development runs on them."""

from __future__ import annotations

import pytest

from shared.errors import ConfigError
from shared.settings import (
    PAYMENT_SANDBOX_DEFAULTS,
    TWOC2P_DEV_MERCHANT_KEY_FILE,
    CommerceSettings,
)
from tests.fakes.payments import twoc2p as fake_2c2p

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
    "twoc2p_maintenance_url": "https://t.2c2p.com/PaymentAction/2.0/action",
    "twoc2p_merchant_private_key": fake_2c2p.MERCHANT_PRIVATE_PEM,
    "twoc2p_public_key": fake_2c2p.PROVIDER_PUBLIC_PEM,
    "tappay_partner_key": "partner_live", "tappay_merchant_id": "shop_CTBC",
    "tappay_base_url": "https://prod.tappaysdk.com",
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


def test_2c2p_refund_keys_must_be_real_in_production() -> None:
    """Unset keys mean the generated development pair would sign refunds: refused."""
    no_keys = {k: v for k, v in PRODUCTION_VALUES.items()
               if k not in ("twoc2p_merchant_private_key", "twoc2p_public_key")}
    [line] = settings(**no_keys)._payment_production_problems()
    assert "twoc2p" in line and "TWOC2P_MERCHANT_PRIVATE_KEY" in line
    dev_file = settings(**{**no_keys, "twoc2p_public_key": fake_2c2p.PROVIDER_PUBLIC_PEM,
                           "twoc2p_merchant_private_key_file": TWOC2P_DEV_MERCHANT_KEY_FILE})
    assert "twoc2p" in dev_file._payment_production_problems()[0]
    sandbox_host = settings(**{**PRODUCTION_VALUES, "twoc2p_maintenance_url":
                               PAYMENT_SANDBOX_DEFAULTS["twoc2p"]["twoc2p_maintenance_url"]})
    assert "twoc2p" in sandbox_host._payment_production_problems()[0]
    with pytest.raises(ConfigError, match="twoc2p"):
        settings(**no_keys).check_production_safety()
