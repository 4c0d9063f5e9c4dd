"""search text in SQL, stock CHECK

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 03:40:00

- `product_search_text`: each product's normalised name and description, so search confirms and
  ranks its candidates in the database and a page reads one page (not every match). Backfilled
  here from `products` with the application's own `normalise` (the index must agree with the
  queries the running code makes, so this migration imports it on purpose).
- `product_search_grams.in_name` is dropped: ranking by name now reads the text itself.
- `products.stock >= 0` as a CHECK constraint on MySQL 8 and MariaDB, a backstop under the
  checkout's conditional UPDATE. SQLite cannot add a constraint to an existing table without
  rebuilding it, which would cascade-delete the rows that reference products.
"""

from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from commerce.catalog.search import bigrams, normalise, text_row

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
BINARY_TEXT = sa.Text().with_variant(mysql.TEXT(collation="utf8mb4_bin"), "mysql", "mariadb")
BINARY_LONG_TEXT = sa.Text().with_variant(
    mysql.MEDIUMTEXT(collation="utf8mb4_bin"), "mysql", "mariadb"
)
PRODUCTS = sa.table(
    "products", sa.column("id", sa.BigInteger), sa.column("name", sa.String),
    sa.column("description", sa.Text), sa.column("is_deleted", sa.Boolean),
)
SEARCH_TEXT = sa.table(
    "product_search_text", sa.column("product_id", sa.BigInteger), sa.column("name", sa.Text),
    sa.column("description", sa.Text), sa.column("name_length", sa.Integer),
)
GRAMS = sa.table(
    "product_search_grams", sa.column("gram", sa.String), sa.column("product_id", sa.BigInteger),
    sa.column("in_name", sa.Boolean),
)


def _is_mysql() -> bool:
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def _products_in_batches() -> Iterator[list[tuple[int, str, str]]]:
    """The products search can find (deleting one unindexes it), `BATCH` at a time by id."""
    bind = op.get_bind()
    after = 0
    while True:
        rows = bind.execute(
            sa.select(PRODUCTS.c.id, PRODUCTS.c.name, PRODUCTS.c.description)
            .where(PRODUCTS.c.id > after, PRODUCTS.c.is_deleted.is_(False)).order_by(PRODUCTS.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        yield [(int(pid), name, description or "") for pid, name, description in rows]
        after = rows[-1][0]


def upgrade() -> None:
    op.create_table(
        "product_search_text",
        sa.Column("product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  nullable=False),
        sa.Column("name", BINARY_TEXT, nullable=False),
        sa.Column("description", BINARY_LONG_TEXT, nullable=False),
        sa.Column("name_length", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"],
            name=op.f("fk_product_search_text_product_id_products"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_product_search_text")),
    )
    for rows in _products_in_batches():
        op.get_bind().execute(
            sa.insert(SEARCH_TEXT),
            [text_row(pid, name=name, description=description)
             for pid, name, description in rows],
        )
    with op.batch_alter_table("product_search_grams") as batch:
        batch.drop_column("in_name")
    if _is_mysql():
        op.create_check_constraint(op.f("ck_products_stock_not_negative"), "products",
                                   "stock >= 0")


def downgrade() -> None:
    if _is_mysql():
        op.drop_constraint(op.f("ck_products_stock_not_negative"), "products", type_="check")
    with op.batch_alter_table("product_search_grams") as batch:
        batch.add_column(sa.Column("in_name", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    bind = op.get_bind()
    for rows in _products_in_batches():
        for pid, name, _ in rows:
            grams = sorted(bigrams(normalise(name)))
            if grams:
                bind.execute(
                    sa.update(GRAMS)
                    .where(GRAMS.c.product_id == pid, GRAMS.c.gram.in_(grams))
                    .values(in_name=True)
                )
    with op.batch_alter_table("product_search_grams") as batch:
        batch.alter_column("in_name", server_default=None)
    op.drop_table("product_search_text")
