"""Domain errors of ordering; the one error handler renders them as the contract's envelope."""

from __future__ import annotations

from typing import Any

from shared.errors import Conflict, InvalidInput


class OutOfStock(Conflict):
    """Not enough units for one line; nothing of the order was reserved."""

    def __init__(self, *, product_id: int, available: int) -> None:
        super().__init__(
            "not enough stock",
            code="out_of_stock",
            details={"product_id": product_id, "available": max(0, available)},
        )


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
