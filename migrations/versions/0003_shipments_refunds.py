"""shipments, refunds by line, fulfilment time

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:50:51

- `shipments`: one per (order, seller), the seller's parcel with carrier and tracking number.
- `refunds`: money given back for some lines through the payment that took it.
- `order_items.shipment_id / refund_id / restocked_at`: each line's life after payment, each
  set once by a conditional UPDATE (no foreign keys: SQLite cannot add one without a rebuild).
- `orders.fulfilled_at` (+ index with status): the auto-complete clock.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# Microsecond UTC datetimes (commerce.db.UTCDateTime), spelled out as in 0001.
DT = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('shipments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seller_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('carrier', sa.String(length=50), nullable=False),
    sa.Column('tracking_number', sa.String(length=64), nullable=False),
    sa.Column('shipped_at', DT, nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_shipments_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['seller_id'], ['users.id'], name=op.f('fk_shipments_seller_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments')),
    sa.UniqueConstraint('order_id', 'seller_id', name=op.f('uq_shipments_order_id_seller_id'))
    )
    op.create_table('refunds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('payment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('requested_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('product_ids', sa.JSON(), nullable=False),
    sa.Column('provider_refund_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', DT, nullable=False),
    sa.Column('updated_at', DT, nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_refunds_order_id_orders')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_refunds_payment_id_payments')),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_refunds_requested_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds'))
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_order_id_id'), ['order_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refunds_payment_id'), ['payment_id'], unique=False)

    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shipment_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('refund_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('restocked_at', DT, nullable=True))

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fulfilled_at', DT, nullable=True))
        batch_op.create_index(batch_op.f('ix_orders_status_fulfilled_at'), ['status', 'fulfilled_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_status_fulfilled_at'))
        batch_op.drop_column('fulfilled_at')

    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.drop_column('restocked_at')
        batch_op.drop_column('refund_id')
        batch_op.drop_column('shipment_id')

    # The refunds indexes go with the table (MariaDB keeps them for the foreign keys).
    op.drop_table('refunds')
    op.drop_table('shipments')
