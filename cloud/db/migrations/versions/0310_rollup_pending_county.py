"""rollup_pending keyed by county too (issue 10, item 11)

A device's readings are stored under the county they belong to; a tag that moved
between counties has a series (and roll-ups) per county, so an hour to recompute
is one per (measurement, device, county, hour).

Revision ID: 0310
Revises: 0002
Create Date: 2026-12-03 19:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0310"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rollup_pending", schema=None) as batch_op:
        batch_op.drop_constraint("pk_rollup_pending", type_="primary")
        batch_op.create_primary_key(
            "pk_rollup_pending", ["measurement", "device", "county", "hour_ms"]
        )


def downgrade() -> None:
    # The old key holds one mark per hour: of marks under two counties, one is kept.
    op.execute(
        "DELETE FROM rollup_pending WHERE EXISTS (SELECT 1 FROM rollup_pending AS o "
        "WHERE o.measurement = rollup_pending.measurement AND o.device = rollup_pending.device "
        "AND o.hour_ms = rollup_pending.hour_ms AND o.county < rollup_pending.county)"
    )
    with op.batch_alter_table("rollup_pending", schema=None) as batch_op:
        batch_op.drop_constraint("pk_rollup_pending", type_="primary")
        batch_op.create_primary_key("pk_rollup_pending", ["measurement", "device", "hour_ms"])
