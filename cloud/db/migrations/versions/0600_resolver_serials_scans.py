"""resolver (issue 12): serial ranges, scans and their anomaly flags

Revision ID: 0600
Revises: 0400
Create Date: 2026-12-04 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0600"
down_revision: str | None = "0400"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "serial_ranges",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("first", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("created_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["trace_lots.id"], name=op.f("fk_serial_ranges_lot_id_trace_lots")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_serial_ranges")),
    )
    with op.batch_alter_table("serial_ranges", schema=None) as batch_op:
        batch_op.create_index("ix_serial_ranges_lot_first", ["lot_id", "first"], unique=False)
        batch_op.create_index(batch_op.f("ix_serial_ranges_county"), ["county"], unique=False)

    op.create_table(
        "scans",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("serial", sa.String(length=20), nullable=False),
        sa.Column("at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("city", sa.String(length=6), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("placed_at", cloud.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["lot_id"], ["trace_lots.id"], name=op.f("fk_scans_lot_id_trace_lots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_scans_token_sha256")),
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index("ix_scans_lot_serial_at", ["lot_id", "serial", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_scans_county"), ["county"], unique=False)

    op.create_table(
        "scan_flags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("serial", sa.String(length=20), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("first_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["trace_lots.id"], name=op.f("fk_scan_flags_lot_id_trace_lots")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_flags")),
    )
    with op.batch_alter_table("scan_flags", schema=None) as batch_op:
        batch_op.create_index("ux_scan_flags_key", ["kind", "lot_id", "serial"], unique=True)
        batch_op.create_index(batch_op.f("ix_scan_flags_county"), ["county"], unique=False)


def downgrade() -> None:
    op.drop_table("scan_flags")
    op.drop_table("scans")
    op.drop_table("serial_ranges")
