"""logistics positions (issue 13): phone trackers, their counts, touched windows, tracks

Revision ID: 0700
Revises: 0300
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0700"
down_revision: str | None = "0300"
branch_labels: str | Sequence[str] | None = ("logistics_positions",)
depends_on: str | Sequence[str] | None = None

UTC = cloud.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "logistics_trackers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("vehicle", sa.String(length=128), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("speed_unit", sa.String(length=4), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("rotated_at", UTC, nullable=True),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.Column("revoked_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logistics_trackers")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_logistics_trackers_token_sha256")),
    )
    with op.batch_alter_table("logistics_trackers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_logistics_trackers_vehicle"), ["vehicle"])
        batch_op.create_index(batch_op.f("ix_logistics_trackers_county"), ["county"])

    op.create_table(
        "logistics_tracker_counts",
        sa.Column("tracker_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("tracker_id", "outcome", name=op.f("pk_logistics_tracker_counts")),
    )
    op.create_table(
        "position_window_consumers",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("registered_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_position_window_consumers")),
    )
    op.create_table(
        "position_dirty_windows",
        sa.Column("consumer", sa.String(length=32), nullable=False),
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("window_ms", sa.BigInteger(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("marked_at", UTC, nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", UTC, nullable=True),
        sa.PrimaryKeyConstraint(
            "consumer", "device", "county", "window_ms", name=op.f("pk_position_dirty_windows")
        ),
    )
    op.create_table(
        "position_tracks",
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("tolerance_m", sa.Float(), nullable=False),
        sa.Column("points", sa.JSON(), nullable=False),
        sa.Column("raw_count", sa.Integer(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=False),
        sa.Column("computed_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("device", "county", "day", name=op.f("pk_position_tracks")),
    )
    # the consumers known when positions were built: trips (with stops and distance)
    # and tracks (the daily simplified polylines); a consumer added later registers itself
    consumers = sa.table(
        "position_window_consumers", sa.column("name", sa.String), sa.column("registered_at", UTC)
    )
    from datetime import UTC as _UTC
    from datetime import datetime

    now = datetime.now(_UTC)
    op.bulk_insert(
        consumers,
        [{"name": "trips", "registered_at": now}, {"name": "tracks", "registered_at": now}],
    )


def downgrade() -> None:
    op.drop_table("position_tracks")
    op.drop_table("position_dirty_windows")
    op.drop_table("position_window_consumers")
    op.drop_table("logistics_tracker_counts")
    with op.batch_alter_table("logistics_trackers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_logistics_trackers_county"))
        batch_op.drop_index(batch_op.f("ix_logistics_trackers_vehicle"))
    op.drop_table("logistics_trackers")
