"""notifications, follows, stream analytics

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 10:00:00

- `users.phone`, `users.notification_prefs`: where notifications go (PATCH /users/me).
- `notifications` (the in-app inbox; unique per user and dedup key, so an event delivered twice
  notifies once) and `notification_deliveries` (one email or SMS send per notification and
  channel).
- `follows`: buyers following sellers (going-live fan-out reads them by seller).
- `stream_analytics`: a stream's numbers frozen when it ends.
- an index on `orders.stream_id` for the per-stream order numbers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DT = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("phone", sa.String(20), nullable=True))
        batch.add_column(sa.Column("notification_prefs", sa.JSON(), nullable=True))
    with op.batch_alter_table("orders") as batch:
        batch.create_index("ix_orders_stream_id", ["stream_id"])

    op.create_table(
        "notifications",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("user_id", BIGINT, sa.ForeignKey("users.id", ondelete="CASCADE",
                  name="fk_notifications_user_id_users"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("dedup_key", sa.String(128), nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("in_app", sa.Boolean(), nullable=False),
        sa.Column("read_at", DT, nullable=True),
        sa.Column("created_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("user_id", "dedup_key", name="uq_notifications_user_id_dedup_key"),
    )
    op.create_index("ix_notifications_user_id_in_app_id", "notifications",
                    ["user_id", "in_app", "id"])
    op.create_index("ix_notifications_read_at", "notifications", ["read_at"])

    op.create_table(
        "notification_deliveries",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("notification_id", BIGINT, sa.ForeignKey(
            "notifications.id", ondelete="CASCADE",
            name="fk_notification_deliveries_notification_id_notifications"), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claim_token", sa.String(32), nullable=True),
        sa.Column("claimed_until", DT, nullable=True),
        sa.Column("sent_at", DT, nullable=True),
        sa.Column("created_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notification_deliveries"),
        sa.UniqueConstraint("notification_id", "channel",
                            name="uq_notification_deliveries_notification_id_channel"),
    )
    op.create_index("ix_notification_deliveries_claim_token", "notification_deliveries",
                    ["claim_token"])

    op.create_table(
        "follows",
        sa.Column("follower_id", BIGINT, sa.ForeignKey(
            "users.id", ondelete="CASCADE", name="fk_follows_follower_id_users"), nullable=False),
        sa.Column("seller_id", BIGINT, sa.ForeignKey(
            "users.id", ondelete="CASCADE", name="fk_follows_seller_id_users"), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("follower_id", "seller_id", name="pk_follows"),
    )
    op.create_index("ix_follows_seller_id_follower_id", "follows", ["seller_id", "follower_id"])

    op.create_table(
        "stream_analytics",
        sa.Column("stream_id", BIGINT, sa.ForeignKey(
            "streams.id", ondelete="CASCADE", name="fk_stream_analytics_stream_id_streams"),
            nullable=False),
        sa.Column("peak_viewers", sa.Integer(), nullable=False),
        sa.Column("unique_viewers", sa.Integer(), nullable=False),
        sa.Column("signed_in_viewers", sa.Integer(), nullable=False),
        sa.Column("chat_messages", sa.Integer(), nullable=False),
        sa.Column("reactions", sa.Integer(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("units_sold", sa.Integer(), nullable=False),
        sa.Column("buyers", sa.Integer(), nullable=False),
        sa.Column("gmv", sa.JSON(), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("stream_id", name="pk_stream_analytics"),
    )


def downgrade() -> None:
    op.drop_table("stream_analytics")
    op.drop_table("follows")
    op.drop_table("notification_deliveries")
    op.drop_table("notifications")
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_stream_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("notification_prefs")
        batch.drop_column("phone")
