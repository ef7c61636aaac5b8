"""trace custody (issue 11): evidence events of custody intervals, the evidence job's cursor

Revision ID: 0450
Revises: 0400
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0450"
down_revision: str | None = "0400"
branch_labels: str | Sequence[str] | None = None
#: locations (catalog, 0303)
depends_on: str | Sequence[str] | None = "0303"

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "trace_custody_evidence",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("place", sa.Text(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("custody_start", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_end", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("supersedes", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("coverage", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("computed_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("computed_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["trace_lots.id"], name=op.f("fk_trace_custody_evidence_lot_id_trace_lots")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_trace_custody_evidence_location_id_locations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_custody_evidence")),
        sa.UniqueConstraint("event_id", name=op.f("uq_trace_custody_evidence_event_id")),
    )
    with op.batch_alter_table("trace_custody_evidence", schema=None) as batch_op:
        batch_op.create_index(
            "ix_trace_custody_evidence_key",
            ["lot_id", "place", "custody_start", "id"],
            unique=False,
        )
        batch_op.create_index("ix_trace_custody_evidence_period_end", ["period_end"], unique=False)
    op.create_table(
        "trace_custody_cursor",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_trace_custody_cursor")),
    )


def downgrade() -> None:
    op.drop_table("trace_custody_cursor")
    with op.batch_alter_table("trace_custody_evidence", schema=None) as batch_op:
        batch_op.drop_index("ix_trace_custody_evidence_period_end")
        batch_op.drop_index("ix_trace_custody_evidence_key")
    op.drop_table("trace_custody_evidence")
