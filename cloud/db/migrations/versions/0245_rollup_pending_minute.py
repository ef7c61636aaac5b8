"""roll-ups: marks per minute beside the marks per hour (issue 10, item 22)

Every write marks the minutes it touched as well as the hours; the roll-up job
recomputes a settled minute's 1-min roll-up while its hour is still marked (the live
hour), so a read of a marked hour takes its unmarked minutes from the 1-min roll-ups
and only the marked ones raw. ``rollup_pending.whole``: an hour marked as a whole
(a restore, ``--all-since``), every minute of it read raw until the job recomputes
it; the hours marked before this revision are marked whole (read raw, as before).

``rollup_generation.minutes`` counts the job's recomputations of a series' minutes
alone: the query layer caches the 1-min roll-ups of marked (and partial) hours keyed
by both generations.

Revision ID: 0245
Revises: 0310 (and needs 0240)
Create Date: 2026-12-03 22:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0245"
down_revision: str | None = "0310"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0240"  # rollup_generation


def upgrade() -> None:
    op.create_table(
        "rollup_pending_minute",
        sa.Column("measurement", sa.String(length=32), nullable=False),
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("minute_ms", sa.BigInteger(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("marked_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "measurement", "device", "county", "minute_ms", name=op.f("pk_rollup_pending_minute")
        ),
    )
    with op.batch_alter_table("rollup_pending_minute", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rollup_pending_minute_marked_at"), ["marked_at"], unique=False
        )
    with op.batch_alter_table("rollup_generation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("minutes", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("rollup_pending", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("whole", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(sa.text("UPDATE rollup_pending SET whole = :yes").bindparams(yes=True))


def downgrade() -> None:
    with op.batch_alter_table("rollup_pending", schema=None) as batch_op:
        batch_op.drop_column("whole")
    with op.batch_alter_table("rollup_generation", schema=None) as batch_op:
        batch_op.drop_column("minutes")
    with op.batch_alter_table("rollup_pending_minute", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rollup_pending_minute_marked_at"))
    op.drop_table("rollup_pending_minute")
