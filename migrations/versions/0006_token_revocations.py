"""token revocations kept in the database

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 10:40:00

- `token_revocations`: every revocation mark the verifiers read from Redis (a logged-out
  token's jti, an ended refresh family, a user's "revoked before" second), kept here too so a
  Redis that restarts without them, or loses everything, gets them back (issue 21).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DT = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "token_revocations",
        sa.Column("key", sa.String(191), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", DT, nullable=False),
    )
    op.create_index("ix_token_revocations_expires_at", "token_revocations", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_token_revocations_expires_at", table_name="token_revocations")
    op.drop_table("token_revocations")
