"""Products and their search index.

`stock` is what can still be bought: units reserved by open orders are already taken out, so the
checkout's conditional `UPDATE ... WHERE stock >= :n` is the whole oversell guard.

Search: MariaDB's FULLTEXT has no n-gram parser and Thai and Chinese have no spaces, so the
catalog keeps its own inverted index of character bigrams (`product_search_grams`) that works
alike on MySQL 8, MariaDB and SQLite; candidates are then confirmed by substring against the
normalised text (`product_search_text`) and ranked, both in the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base, BigIntPK, UTCDateTime, utcnow


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        Index(None, "seller_id", "id"),
        # A backstop under the conditional UPDATE, which is the oversell guard. MySQL 8 and
        # MariaDB enforce it; SQLite cannot add a constraint to an existing table, and the
        # embedded default relies on the UPDATE alone.
        CheckConstraint("stock >= 0", name="stock_not_negative").ddl_if(
            # A tuple is documented and honoured (SQLAlchemy's DDLIf); its stub says str.
            dialect=("mysql", "mariadb"),  # type: ignore[arg-type]
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    seller_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    stock: Mapped[int] = mapped_column(Integer, default=0)
    # Units of this product one buyer may hold across orders that are not cancelled, expired
    # or refunded (None: no limit); the checkout enforces it (flash-sale fairness, issue 17).
    limit_per_buyer: Mapped[int | None] = mapped_column(Integer)
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


# Exact code-point comparison for INSTR on MySQL and MariaDB (under their default collations
# INSTR ignores case, which `normalise` has its own rules for); SQLite compares binary already.
_BINARY_TEXT = Text().with_variant(mysql.TEXT(collation="utf8mb4_bin"), "mysql", "mariadb")
# A 5,000-character description can grow past TEXT's 64 KiB under NFKC (e.g. "ﷺ" is 18 letters).
_BINARY_LONG_TEXT = Text().with_variant(
    mysql.MEDIUMTEXT(collation="utf8mb4_bin"), "mysql", "mariadb"
)


class ProductSearchText(Base):
    """A product's name and description in `search.normalise`d form: what a query's substring
    is confirmed against and ranked by, in SQL, so a page of a broad query reads one page."""

    __tablename__ = "product_search_text"

    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(_BINARY_TEXT)
    description: Mapped[str] = mapped_column(_BINARY_LONG_TEXT)
    # Characters of the normalised name: shorter names rank first among equal matches.
    name_length: Mapped[int] = mapped_column(Integer)
