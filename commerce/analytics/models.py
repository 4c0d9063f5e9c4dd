"""A stream's numbers frozen when it ends (the rollup task writes each row once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base, UTCDateTime, utcnow


class StreamAnalytics(Base):
    __tablename__ = "stream_analytics"

    stream_id: Mapped[int] = mapped_column(
        ForeignKey("streams.id", ondelete="CASCADE"), primary_key=True
    )
    peak_viewers: Mapped[int] = mapped_column(Integer)
    unique_viewers: Mapped[int] = mapped_column(Integer)
    signed_in_viewers: Mapped[int] = mapped_column(Integer)
    chat_messages: Mapped[int] = mapped_column(Integer)
    reactions: Mapped[int] = mapped_column(Integer)
    orders: Mapped[int] = mapped_column(Integer)
    units_sold: Mapped[int] = mapped_column(Integer)
    buyers: Mapped[int] = mapped_column(Integer)
    gmv: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{currency, amount_minor}]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
