"""Order settings (`ORDER_*`, `MAX_UNPAID_ORDERS_PER_BUYER`): reservations, the Redis stock gate
in front of checkout, selling without Redis, first answers and the per-buyer cap
(commerce/orders, commerce/inventory/gate.py)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config.composed import ComposedSettings


class OrderSettings(ComposedSettings):
    model_config = SettingsConfigDict(env_prefix="ORDER_")

    reservation_ttl_s: int = 15 * 60
    # A fulfilled order the buyer has not completed is completed this many days after its last
    # shipment (the beat's `orders.complete_due`); refunds by line stay possible until then.
    auto_complete_days: int = Field(default=7, ge=1, le=90)
    # Redis stock gate in front of checkout (commerce/inventory/gate.py): a hint whose TTL
    # bounds how long a wrong value (e.g. after a crash) can cause false out_of_stock.
    stock_gate_enabled: bool = True
    stock_gate_ttl_s: int = Field(default=30, ge=1)
    # Each API process raises gate keys it used that sit below the database's stock for two
    # passes this far apart (units a killed process took and never returned; gate.py).
    stock_gate_reconcile_s: float = Field(default=0.5, gt=0, le=60)
    # While Redis is unreachable the checkout sells from the database alone
    # (commerce/orders/checkout/degraded.py), at most this many checkouts a second per API
    # process (a token bucket holding up to `_burst`); the rest get 503 + Retry-After. 0: no
    # selling without Redis (503). See docs/operations.md for how the default was measured.
    degraded_rate_per_s: float = Field(default=100.0, ge=0)
    degraded_burst: int = Field(default=50, ge=1)
    # How long a rejected checkout (409 out_of_stock, 422 own_product, ...) stays the first
    # answer to its Idempotency-Key (commerce/orders/checkout/answers.py). Successes stay 24
    # hours in the database; rejections are kept in Redis, about 250 bytes each, and a flash
    # sale's flood is mostly rejections: 10 minutes covers a client's retries without holding
    # the flood.
    rejection_replay_ttl_s: int = Field(default=600, ge=1, le=24 * 3600)
    # Flash-sale fairness (issue 17): the unpaid (`pending_payment`) orders one buyer may hold
    # at once, each keeping stock for `reservation_ttl_s`; one more is 409 `purchase_limit`.
    # 0: no cap. Products add their own `limit_per_buyer` (units).
    max_unpaid_per_buyer: int = Field(
        default=3, ge=0, le=1_000_000_000, validation_alias="MAX_UNPAID_ORDERS_PER_BUYER"
    )
