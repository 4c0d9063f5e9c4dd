"""Request and response bodies of the payment routes (strict: unknown fields are 422)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from commerce.payments.gateways.registry import Method


class PaymentCreate(BaseModel):
    """`POST /orders/{id}/payments`. `token` is an Omise card token (`omise_card`) or the
    Apple Pay / Google Pay payment data (`applepay`, `googlepay`); `phone_number` is the
    TrueMoney wallet's."""

    model_config = ConfigDict(extra="forbid", strict=True)

    method: Method
    token: str | None = Field(default=None, min_length=1, max_length=20_000)
    phone_number: str | None = Field(default=None, pattern=r"^\+?[0-9]{9,15}$")


class PaymentOut(BaseModel):
    payment_id: int
    status: str
    provider: str
    method: str
    amount: str
    currency: str
    action: dict[str, Any]


class PaymentStatusOut(BaseModel):
    """What the return page shows: the payment's and the order's state, nothing else."""

    payment_id: int
    order_id: int
    status: str
    order_status: str
    method: str
    amount: str
    currency: str
