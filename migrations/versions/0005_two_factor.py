"""two-factor authentication (TOTP) and recovery codes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:15:00

- `totp_credentials`: one TOTP secret per user (encrypted), confirmed or pending, with the
  step of the last accepted code (a code works once).
- `recovery_codes`: one-time recovery codes, stored as SHA-256 digests.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DT = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "totp_credentials",
        sa.Column("user_id", BIGINT, sa.ForeignKey("users.id", ondelete="CASCADE",
                  name="fk_totp_credentials_user_id_users"), nullable=False),
        sa.Column("secret_enc", sa.String(255), nullable=False),
        sa.Column("confirmed_at", DT, nullable=True),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
        sa.Column("created_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_totp_credentials"),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("user_id", BIGINT, sa.ForeignKey("users.id", ondelete="CASCADE",
                  name="fk_recovery_codes_user_id_users"), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_at", DT, nullable=True),
        sa.Column("created_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recovery_codes"),
        sa.UniqueConstraint("user_id", "code_hash", name="uq_recovery_codes_user_id_code_hash"),
    )
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])


def downgrade() -> None:
    op.drop_table("recovery_codes")
    op.drop_table("totp_credentials")
