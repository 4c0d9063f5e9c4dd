"""Domain errors of ordering; the one error handler renders them as the contract's envelope."""

from __future__ import annotations

from typing import Any

from commerce.inventory.errors import OutOfStock
from shared.errors import Conflict, InvalidInput

__all__ = ["IdempotencyConflict", "InvalidTransition", "OrderInputError", "OutOfStock"]


class IdempotencyConflict(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "this Idempotency-Key was already used with a different request body",
            code="idempotency_conflict",
        )


class InvalidTransition(Conflict):
    def __init__(self, *, details: Any = None) -> None:
        super().__init__(
            "the order cannot make this transition from its current status",
            code="invalid_transition",
            details=details,
        )


class OrderInputError(InvalidInput):
    """Input that is well-formed but does not make a valid order (422 with its own code)."""
