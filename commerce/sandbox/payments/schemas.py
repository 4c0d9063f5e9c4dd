"""Bodies of `POST /api/v1/sandbox/payments/{payment_id}` (strict: unknown fields are 422)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from commerce.sandbox.payments.base import Outcome


class SandboxPaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    outcome: Outcome


class SandboxPaymentOut(BaseModel):
    """`webhook_status` is what our webhook answered the sandbox (None: the provider sends
    nothing, e.g. a cancelled LINE Pay payment); `redelivered` marks a repeat, which re-sends
    the provider's earlier notification (a duplicate our webhook records once)."""

    payment_id: int
    provider: str
    outcome: Outcome
    webhook_status: int | None
    redelivered: bool
