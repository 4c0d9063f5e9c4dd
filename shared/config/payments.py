"""Payment settings: the common ones (`PAYMENTS_*`) and one model per provider (`<PROVIDER>_*`).

Development defaults are each provider's public sandbox or documented example credentials and
sandbox hosts, written once as the fields' defaults. `sandbox_fields` names the fields whose
default must not reach production: production refuses an enabled provider still on any of them
(`stale_for_production`), and `<PROVIDER>_SANDBOX=auto` sends a provider still on all of them to
the local sandbox in development (`on_example_account`). The adapters take these models as
their configuration (commerce/payments/gateways), so nothing copies the values by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.config.composed import VAR_DIR, ComposedSettings, plain

# The development 2C2P merchant RSA key (commerce/payment_wire/twoc2p_keys.py).
TWOC2P_DEV_MERCHANT_KEY_FILE = VAR_DIR / "dev-twoc2p-merchant-rsa.pem"

PaymentProvider = Literal[
    "ecpay", "newebpay", "linepay", "omise", "twoc2p", "tappay", "promptpay"
]
PAYMENT_PROVIDERS: tuple[PaymentProvider, ...] = (
    "ecpay", "newebpay", "linepay", "omise", "twoc2p", "tappay", "promptpay"
)
# Where a provider's traffic goes (`<PROVIDER>_SANDBOX`): `local` is the in-process sandbox
# (commerce/sandbox/payments: no network, no account), `public` the provider's own public
# sandbox with the credentials configured, `auto` local in development while the provider has
# no credentials of its own configured (all its `sandbox_fields` still their defaults), else the
# configured host. Production refuses `local` and `public`.
PaymentSandbox = Literal["auto", "local", "public"]


class ProviderSettings(ComposedSettings):
    """One provider's account. Subclasses set `env_prefix` and `sandbox_fields`."""

    # Every setting whose public sandbox/example default must not reach production.
    sandbox_fields: ClassVar[tuple[str, ...]] = ()

    def sandbox_defaults(self) -> dict[str, str]:
        """The example value of each of `sandbox_fields`, as text (the fields' defaults)."""
        fields = type(self).model_fields
        return {name: plain(fields[name].default) for name in self.sandbox_fields}

    def on_example_account(self) -> bool:
        """Whether every credential and host is still the public example one."""
        return all(
            plain(getattr(self, name)) == default
            for name, default in self.sandbox_defaults().items()
        )

    def stale_for_production(self) -> bool:
        """Whether any credential or host is still an example one, or a key a test key."""
        return any(
            plain(getattr(self, name)) == default
            or (name.endswith("_key") and "_test_" in plain(getattr(self, name)))
            for name, default in self.sandbox_defaults().items()
        )

    def production_note(self) -> str:
        """What else production needs of this provider, when `stale_for_production` says so."""
        return ""


class HostedProviderSettings(ProviderSettings):
    """A provider with a host to call, which a local sandbox can stand in for."""

    sandbox: PaymentSandbox = "auto"


class EcpaySettings(HostedProviderSettings):
    model_config = SettingsConfigDict(env_prefix="ECPAY_")
    sandbox_fields = ("merchant_id", "hash_key", "hash_iv", "base_url")

    merchant_id: str = "3002607"
    hash_key: SecretStr = SecretStr("pwFHCqoQZGmho4w6")
    hash_iv: SecretStr = SecretStr("EkRm7iFT261dpevs")
    base_url: str = "https://payment-stage.ecpay.com.tw"
    # ECPay stage lets a merchant "simulate" a payment (SimulatePaid=1): never money.
    accept_simulated_paid: bool = False


class NewebpaySettings(HostedProviderSettings):
    model_config = SettingsConfigDict(env_prefix="NEWEBPAY_")
    sandbox_fields = ("merchant_id", "hash_key", "hash_iv", "base_url")

    merchant_id: str = "3430112"
    hash_key: SecretStr = SecretStr("12345678901234567890123456789012")
    hash_iv: SecretStr = SecretStr("1234567890123456")
    base_url: str = "https://ccore.newebpay.com"


class LinepaySettings(HostedProviderSettings):
    model_config = SettingsConfigDict(env_prefix="LINEPAY_")
    sandbox_fields = ("channel_id", "channel_secret", "base_url")

    channel_id: str = "1234567890"
    channel_secret: SecretStr = SecretStr("linepay-sandbox-example-secret")
    base_url: str = "https://sandbox-api-pay.line.me"


class OmiseSettings(HostedProviderSettings):
    model_config = SettingsConfigDict(env_prefix="OMISE_")
    sandbox_fields = ("public_key", "secret_key")

    public_key: str = "pkey_test_4xs68olyuul9lmmp375"
    secret_key: SecretStr = SecretStr("skey_test_4xs68olyuul9lmmp375")
    api_url: str = "https://api.omise.co"
    vault_url: str = "https://vault.omise.co"


class TwoC2PSettings(HostedProviderSettings):
    model_config = SettingsConfigDict(env_prefix="TWOC2P_")
    sandbox_fields = ("merchant_id", "secret_key", "base_url", "maintenance_url")

    merchant_id: str = "JT01"
    secret_key: SecretStr = SecretStr(
        "1F4EDB965BBB3094F791A83750FBDCDA3852131CB5218E21E4F42929A1975E60"
    )
    base_url: str = "https://sandbox-pgw.2c2p.com"
    # 2C2P Payment Maintenance API (refunds): JWE + JWS with RSA keys, not the SHA key above
    # (developer.2c2p.com/docs/payment-maintenance-refund-guide). Production URL:
    # https://t.2c2p.com/PaymentAction/2.0/action. Our private key (PEM or file): unset in
    # development, a pair generated under var/ (`twoc2p_keys`). 2C2P's public key or
    # certificate (PEM or file, from its portal): unset, 2C2P refunds are `refund_unsupported`.
    # Production refuses to start without both, or with the development key file.
    maintenance_url: str = "https://demo2.2c2p.com/2C2PFrontend/PaymentAction/2.0/action"
    merchant_private_key: SecretStr | None = None
    merchant_private_key_file: Path | None = None
    public_key: str | None = None
    public_key_file: Path | None = None

    def keys_are_dev(self) -> bool:
        """No maintenance keys means the generated development pair would sign refunds."""
        private_file = self.merchant_private_key_file
        no_private = self.merchant_private_key is None and private_file is None
        dev_file = private_file is not None and (
            private_file.resolve() == TWOC2P_DEV_MERCHANT_KEY_FILE.resolve()
        )
        no_public = not self.public_key and self.public_key_file is None
        return no_private or dev_file or no_public

    def stale_for_production(self) -> bool:
        return super().stale_for_production() or self.keys_are_dev()

    def production_note(self) -> str:
        if not self.keys_are_dev():
            return ""
        return ("2C2P refunds also need TWOC2P_MERCHANT_PRIVATE_KEY(_FILE), not the development"
                " key, and TWOC2P_PUBLIC_KEY(_FILE)")


class TappaySettings(HostedProviderSettings):
    """TapPay (Cherri Tech): Apple Pay and Google Pay in TWD (Pay by Prime; docs.tappaysdk.com).

    Partner key and merchant id come from the TapPay Portal; TapPay publishes no shared example
    account, so the defaults are placeholders only the local sandbox accepts."""

    model_config = SettingsConfigDict(env_prefix="TAPPAY_")
    sandbox_fields = ("partner_key", "merchant_id", "base_url")

    partner_key: SecretStr = SecretStr("partner_sandbox_example")
    merchant_id: str = "livecommerce_sandbox"
    base_url: str = "https://sandbox.tappaysdk.com"


class PromptpaySettings(ProviderSettings):
    """Direct PromptPay QR target (phone / national id / e-wallet): no notification exists,
    so there is no host and no sandbox."""

    model_config = SettingsConfigDict(env_prefix="PROMPTPAY_")
    sandbox_fields = ("id",)

    id: str = "0812345678"


class PaymentSettings(ComposedSettings):
    """commerce/payments: which providers are on, where they call us back, and each provider."""

    model_config = SettingsConfigDict(env_prefix="PAYMENTS_")

    enabled: list[PaymentProvider] = Field(default_factory=lambda: list(PAYMENT_PROVIDERS))
    # Where providers post notifications (`{base}/api/v1/payments/webhooks/{provider}`) and
    # where the shopper's browser comes back to after paying.
    public_base_url: str = "http://127.0.0.1:8000"
    return_url: str = "http://127.0.0.1:8000/payments/return"
    http_timeout_s: float = Field(default=10.0, gt=0)
    # A payment still pending this long is asked about (providers with a status query).
    query_after_s: int = Field(default=300, ge=30)

    ecpay: EcpaySettings = Field(default_factory=EcpaySettings)
    newebpay: NewebpaySettings = Field(default_factory=NewebpaySettings)
    linepay: LinepaySettings = Field(default_factory=LinepaySettings)
    omise: OmiseSettings = Field(default_factory=OmiseSettings)
    twoc2p: TwoC2PSettings = Field(default_factory=TwoC2PSettings)
    tappay: TappaySettings = Field(default_factory=TappaySettings)
    promptpay: PromptpaySettings = Field(default_factory=PromptpaySettings)

    def provider(self, name: str) -> ProviderSettings:
        """One provider's settings by its name in `PAYMENT_PROVIDERS`."""
        if name not in PAYMENT_PROVIDERS:
            raise KeyError(name)
        found: ProviderSettings = getattr(self, name)
        return found

    def uses_local_sandbox(self, name: str, *, development: bool, production: bool) -> bool:
        """Whether `name`'s adapter talks to the in-process sandbox instead of a host."""
        provider = self.provider(name)
        if not isinstance(provider, HostedProviderSettings) or production:
            return False
        if provider.sandbox != "auto":
            return provider.sandbox == "local"
        return development and provider.on_example_account()

    def sandbox_production_problems(self) -> list[str]:
        """Production refuses any provider told to use a sandbox (`<PROVIDER>_SANDBOX`)."""
        told = [
            f"{name.upper()}_SANDBOX={provider.sandbox}"
            for name in PAYMENT_PROVIDERS
            if isinstance(provider := self.provider(name), HostedProviderSettings)
            and provider.sandbox != "auto"
        ]
        return [f"payment sandboxes are for development only: {', '.join(told)}"] if told else []

    def production_problems(self) -> list[str]:
        """Name every enabled provider still on a public sandbox credential or host."""
        stale = [name for name in self.enabled if self.provider(name).stale_for_production()]
        if not stale:
            return []
        notes = [note for name in stale if (note := self.provider(name).production_note())]
        return [
            "payment providers still on public sandbox credentials or hosts: "
            + ", ".join(stale)
            + " (set their production values or remove them from PAYMENTS_ENABLED)"
            + "".join(f"; {note}" for note in notes)
        ]
