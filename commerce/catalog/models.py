"""Products and their search index.

`stock` is what can still be bought: units reserved by open orders are already taken out, so the
checkout's conditional `UPDATE ... WHERE stock >= :n` is the whole oversell guard.

Search: MariaDB's FULLTEXT has no n-gram parser and Thai and Chinese have no spaces, so the
catalog keeps its own inverted index of character bigrams (`product_search_grams`) that works
alike on MySQL 8, MariaDB and SQLite; candidates are then confirmed by substring and ranked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base, BigIntPK, UTCDateTime, utcnow


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (Index(None, "seller_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    seller_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    stock: Mapped[int] = mapped_column(Integer, default=0)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    images: Mapped[list[Any]] = mapped_column(JSON, default=list)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ProductSearchGram(Base):
    """One row per (bigram, product): the posting list of an n-gram inverted index."""

    __tablename__ = "product_search_grams"

    gram: Mapped[str] = mapped_column(
        String(8).with_variant(String(8, collation="utf8mb4_bin"), "mysql", "mariadb"),
        primary_key=True,
    )
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    in_name: Mapped[bool] = mapped_column(Boolean, default=False)
