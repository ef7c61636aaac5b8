"""services/mofcom (issue 15): the delivery log of the MOFCOM push

Revision ID: 1030
Revises: 0001
Create Date: 2026-12-04 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "1030"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("services_mofcom",)
depends_on: str | Sequence[str] | None = None

UTC_TIME = cloud.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mofcom_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("format_version", sa.String(length=16), nullable=False),
        sa.Column("endpoint", sa.String(length=500), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("body_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mofcom_deliveries")),
    )
    op.create_index("ix_mofcom_deliveries_month", "mofcom_deliveries", ["month"])
    op.create_index("ix_mofcom_deliveries_status", "mofcom_deliveries", ["status"])


def downgrade() -> None:
    op.drop_index("ix_mofcom_deliveries_status", table_name="mofcom_deliveries")
    op.drop_index("ix_mofcom_deliveries_month", table_name="mofcom_deliveries")
    op.drop_table("mofcom_deliveries")
