"""roll-ups: a write generation per series, bumped by every write's marks

``rollup_generation.writes`` counts the writes to a series' raw points (ingest, a
restore, ``dehong cloud rollup --all-since``): every writer marks what it wrote
(``cloud.timeseries.rollup``), and the marks bump it in the same transaction, after
the points are stored; the ingest workers bump it even when they leave a recent mark
alone. The query layer caches the raw points of marked minutes (the live minutes)
keyed by it, so a read of the live hour costs no time-series request unless data
arrived since.

Revision ID: 0311
Revises: 0245
Create Date: 2026-12-04 09:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0311"
down_revision: str | None = "0245"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rollup_generation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("writes", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("rollup_generation", schema=None) as batch_op:
        batch_op.drop_column("writes")
