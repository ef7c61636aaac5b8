"""ingest: alerts about the time-series store (issue 10, item 6)

A write refused for a reason other than the data (credentials, a missing
database, the server down) is an outage: ingest keeps the data, retries and
raises an alert, one row per kind, active while ``cleared_at`` is null.

Revision ID: 0210
Revises: 0201
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0210"
down_revision: str | None = "0201"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ingest_alerts",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raised_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", cloud.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_ingest_alerts")),
    )


def downgrade() -> None:
    op.drop_table("ingest_alerts")
