"""Domain errors of ordering; the one error handler renders them as the contract's envelope."""

from __future__ import annotations

from typing import Any

from commerce.inventory.errors import OutOfStock
from shared.errors import Conflict, InvalidInput

__all__ = [
    "IdempotencyConflict", "InvalidTransition", "OrderInputError", "OutOfStock", "PurchaseLimit",
]


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


class PurchaseLimit(Conflict):
    """The buyer would hold more than a cap allows (flash-sale fairness, issue 17): unpaid
    orders past `MAX_UNPAID_ORDERS_PER_BUYER`, or units of a product past its
    `limit_per_buyer`. Nothing of the order was reserved."""

    UNPAID_ORDERS = "unpaid_orders"
    PER_PRODUCT = "per_product"

    def __init__(
        self, *, limit: int, kind: str, product_id: int | None = None, held: int = 0
    ) -> None:
        # What the database counted (unpaid orders, or units of `product_id`) when it refused
        # the order: the Redis gate's counter is raised to it (`fastpath.FastPath.give_back`).
        self.kind, self.product_id, self.held = kind, product_id, held
        details: dict[str, Any] = {"limit": limit, "kind": kind}
        if product_id is not None:
            details["product_id"] = product_id
        message = (
            f"a buyer may hold at most {limit} unpaid orders; pay or cancel one first"
            if kind == self.UNPAID_ORDERS
            else f"a buyer may hold at most {limit} units of this product"
        )
        super().__init__(message, code="purchase_limit", details=details)
