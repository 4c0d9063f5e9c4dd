"""Rate limits of the API (`RATE_LIMIT_*`, `LOGIN_SLOW_PATH_*`), in the limits library's
notation ("60/minute"). Per-address limits key on the address nginx forwards; the embedded
default is loose enough for local load tests."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config.composed import ComposedSettings


class RateLimitSettings(ComposedSettings):
    model_config = SettingsConfigDict(env_prefix="RATE_LIMIT_")

    login_per_ip: str = "1000/minute"
    # Login throttling that cannot lock the owner out (OWASP Authentication Cheat Sheet):
    # failed logins are counted per (account, address) pair, and only that pair is refused
    # (429) once its budget is used up; failures of one account from all addresses past
    # `login_slow_path_after` send every attempt on it down a slower path (a delay before the
    # password check) instead of refusing it, so the owner can still sign in.
    login_failures_per_pair: str = "10/15 minutes"
    login_slow_path_after: str = Field(default="30/hour", validation_alias="LOGIN_SLOW_PATH_AFTER")
    login_slow_path_delay_s: float = Field(
        default=2.0, ge=0, le=30, validation_alias="LOGIN_SLOW_PATH_DELAY_S"
    )
    register_per_ip: str = "1000/minute"
    # Catalog search (`GET /products?q=`) per address: anonymous, and each query scans the
    # postings of its bigrams. Generous, as carrier-grade NAT puts many shoppers on one address.
    search_per_ip: str = "600/minute"
    # The payment return page's status polls (`GET /payments/status`), per address.
    payment_status_per_ip: str = "300/minute"
    # The writes a bot repeats, per user and per address (429 `rate_limited`). Per address is
    # generous: carrier-grade NAT and the embedded default's local load tests share one address.
    orders_per_user: str = "60/minute"
    orders_per_ip: str = "20000/minute"
    payments_per_user: str = "30/minute"
    payments_per_ip: str = "10000/minute"
    cart_per_user: str = "300/minute"
    cart_per_ip: str = "30000/minute"
    # Anonymous provider returns (`GET /payments/webhooks/linepay?transactionId=`): each costs
    # one call to the provider's API, so they are limited per address.
    payment_return_per_ip: str = "60/minute"
    # Two-factor enrolment, confirmation and disabling per user (each checks a code).
    two_factor_per_user: str = "10/minute"
