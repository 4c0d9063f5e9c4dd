"""task intents: tasks enqueued through the database

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:50:00

- `task_intents`: a task to send to the broker, written in the transaction of the change that
  needs it (a stored payment notification's settlement) and sent by the API's task relay, so a
  broker outage delays the task instead of losing it (issue 21).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DT = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "task_intents",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("task_name", sa.String(128), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("sent_at", DT, nullable=True),
    )
    op.create_index("ix_task_intents_sent_at_id", "task_intents", ["sent_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_task_intents_sent_at_id", table_name="task_intents")
    op.drop_table("task_intents")
