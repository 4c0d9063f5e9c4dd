"""Who follows whom. The primary key makes a follow idempotent; the seller index is the fan-out's
keyset (followers of one seller in id order, a batch at a time)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base, UTCDateTime, utcnow


class Follow(Base):
    __tablename__ = "follows"
    __table_args__ = (Index(None, "seller_id", "follower_id"),)

    follower_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    seller_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
