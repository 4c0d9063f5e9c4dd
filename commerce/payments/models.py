"""Payment attempts and the provider notifications about them.

A payment is one attempt to pay one order through one provider; an order may have several
(a failed card, then LINE Pay). `provider_ref` is our trade number at the provider, unique per
provider, and the key every notification is matched on. Amounts are integer minor units;
provider transaction ids are strings (LINE Pay's are 19 digits: never a float).

`payment_notifications` stores each notification once under `(provider, provider_event_id)`,
before anything acts on it, so a duplicate delivery is a no-op and nothing verified is lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base, BigIntPK, UTCDateTime, utcnow

# created → pending (action handed to the client) → succeeded | failed | flagged;
# succeeded → refunded once refunds by line (`refunds`) have given its whole amount back;
# stray money (`needs_refund`) goes succeeded → refunding → refunded (the claim: one caller).
PAYMENT_STATUSES = (
    "created", "pending", "succeeded", "failed", "flagged", "refunding", "refunded",
)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "provider_ref"),
        Index(None, "order_id", "id"),
        Index(None, "provider", "provider_txn_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    provider: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="created")
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    provider_ref: Mapped[str] = mapped_column(String(32))
    provider_txn_id: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Money arrived for an order that can no longer be paid (expired, cancelled, paid twice).
    needs_refund: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str | None] = mapped_column(String(64))
    provider_refund_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class PaymentNotification(Base):
    __tablename__ = "payment_notifications"
    __table_args__ = (UniqueConstraint("provider", "provider_event_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(16))
    provider_event_id: Mapped[str] = mapped_column(String(128))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    # The verified facts (see gateways.base.ParsedNotification), so the task never re-parses.
    provider_ref: Mapped[str] = mapped_column(String(64))
    provider_txn_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    raw: Mapped[str] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# pending (lines claimed, provider being called) -> succeeded | failed (lines released again).
REFUND_STATUSES = ("pending", "succeeded", "failed")


class Refund(Base):
    """Money given back for some lines of an order, through the payment that took it.

    The lines point here (`order_items.refund_id`), claimed while `pending`, so a line is
    refunded at most once; the sum of a payment's non-failed refunds never exceeds its amount.
    """

    __tablename__ = "refunds"
    __table_args__ = (Index(None, "order_id", "id"), Index(None, "payment_id"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    product_ids: Mapped[list[int]] = mapped_column(JSON)
    provider_refund_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
