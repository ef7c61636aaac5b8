"""gateway_health: the gateway's reading counters (taken, sent, acked, pending)

Issue 10, item 26. Unit: readings (one value of one metric of one device at one
instant). Null for gateways that do not report them (older than these fields).

Revision ID: 0250
Revises: 0002
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0250"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("taken_readings", "sent_readings", "acked_readings", "pending_readings")


def upgrade() -> None:
    with op.batch_alter_table("gateway_health", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gateway_health", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
