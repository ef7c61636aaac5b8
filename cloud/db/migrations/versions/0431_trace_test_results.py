"""trace (issue 11): test results carried by sampling and inspecting events

Revision ID: 0431
Revises: 0430
Create Date: 2026-12-05 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0431"
down_revision: str | None = "0430"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "trace_test_results",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("tested_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("test", sa.String(length=48), nullable=False),
        sa.Column("analyte", sa.String(length=100), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=True),
        sa.Column("limit_max", sa.Float(), nullable=True),
        sa.Column("limit_min", sa.Float(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=True),
        sa.Column("lab", sa.String(length=200), nullable=True),
        sa.Column("standard", sa.String(length=100), nullable=True),
        sa.Column("report", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_seq"],
            ["trace_events.seq"],
            name=op.f("fk_trace_test_results_event_seq_trace_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_test_results")),
    )
    with op.batch_alter_table("trace_test_results", schema=None) as batch_op:
        batch_op.create_index("ix_trace_test_results_event", ["event_seq", "position"])
        batch_op.create_index("ix_trace_test_results_county_test", ["county", "test", "tested_at"])


def downgrade() -> None:
    op.drop_table("trace_test_results")
