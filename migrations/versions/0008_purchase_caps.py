"""purchase caps: products.limit_per_buyer and the buyer's orders by status

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 13:40:00

- `products.limit_per_buyer`: units of a product one buyer may hold across orders that are not
  cancelled, expired or refunded (NULL: no limit), set by the seller (issue 17).
- `ix_orders_buyer_id_status`: the checkout counts a buyer's unpaid orders and finds their live
  orders on every order (MAX_UNPAID_ORDERS_PER_BUYER, limit_per_buyer).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("products", sa.Column("limit_per_buyer", sa.Integer(), nullable=True))
    op.create_index("ix_orders_buyer_id_status", "orders", ["buyer_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_orders_buyer_id_status", table_name="orders")
    with op.batch_alter_table("products") as batch_op:
        batch_op.drop_column("limit_per_buyer")
