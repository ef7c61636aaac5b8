"""roll-ups: a generation per series, bumped by the roll-up job

The query layer caches the 1-min roll-ups of whole hours; an hour's roll-ups change
only when the job recomputes it, and the job bumps its series' generation in the
transaction that clears the hour's mark, so a cached hour of an older generation is
never used. A series is a device's readings under one county (the key of
``rollup_pending`` since 0310), so the generation is kept per county too.

Revision ID: 0240
Revises: 0002
Create Date: 2026-12-03 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0240"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_generation",
        sa.Column("measurement", sa.String(length=32), nullable=False),
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "measurement", "device", "county", name=op.f("pk_rollup_generation")
        ),
    )


def downgrade() -> None:
    op.drop_table("rollup_generation")
