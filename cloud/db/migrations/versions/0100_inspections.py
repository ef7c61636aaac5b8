"""inspections (issue 5): camera inspection records

Revision ID: 0100
Revises: 0001
Create Date: 2026-11-29 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0100"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inspections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("gateway_id", sa.String(length=48), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("ts", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("program", sa.String(length=32), nullable=False),
        sa.Column("lot", sa.String(length=64), nullable=True),
        sa.Column("usable", sa.Boolean(), nullable=False),
        sa.Column("unusable_reason", sa.Text(), nullable=True),
        sa.Column("grade", sa.String(length=64), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("measurements", sa.JSON(), nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=False),
        sa.Column("thumbnail_key", sa.String(length=64), nullable=True),
        sa.Column("thumbnail_error", sa.Text(), nullable=True),
        sa.Column("received_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
        sa.UniqueConstraint("gateway_id", "event_id", name=op.f("uq_inspections_gateway_id")),
    )
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.create_index("ix_inspections_county_ts", ["county", "ts"], unique=False)
        batch_op.create_index(batch_op.f("ix_inspections_device"), ["device"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_inspections_image_sha256"), ["image_sha256"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_inspections_lot"), ["lot"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspections_lot"))
        batch_op.drop_index(batch_op.f("ix_inspections_image_sha256"))
        batch_op.drop_index(batch_op.f("ix_inspections_device"))
        batch_op.drop_index("ix_inspections_county_ts")
    op.drop_table("inspections")
