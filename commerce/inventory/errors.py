"""Inventory's domain error; the one error handler renders it as the contract's envelope."""

from __future__ import annotations

from shared.errors import Conflict


class OutOfStock(Conflict):
    """Not enough units for one line; nothing of the order was reserved."""

    def __init__(self, *, product_id: int, available: int) -> None:
        super().__init__(
            "not enough stock",
            code="out_of_stock",
            details={"product_id": product_id, "available": max(0, available)},
        )
