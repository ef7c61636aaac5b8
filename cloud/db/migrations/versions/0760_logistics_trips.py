"""logistics trips (issue 13): geofences of catalog locations and bases, trips, stops,
their replay tracks, geofence events

Revision ID: 0760
Revises: 0303
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0760"
down_revision: str | None = "0303"
branch_labels: str | Sequence[str] | None = ("logistics_tracked_trips",)
depends_on: str | Sequence[str] | None = None

Stamp = cloud.db.base.UTCDateTime
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _item_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("vehicle", sa.String(length=128), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("end_lat", sa.Float(), nullable=False),
        sa.Column("end_lon", sa.Float(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=False),
        sa.Column("max_speed_kmh", sa.Float(), nullable=True),
        sa.Column("avg_speed_kmh", sa.Float(), nullable=True),
        sa.Column("n_fixes", sa.Integer(), nullable=False),
        sa.Column("temp_n", sa.Integer(), nullable=False),
        sa.Column("temp_min", sa.Float(), nullable=True),
        sa.Column("temp_max", sa.Float(), nullable=True),
        sa.Column("temp_mean", sa.Float(), nullable=True),
        sa.Column("temp_mkt", sa.Float(), nullable=True),
        sa.Column("temp_covered_s", sa.Float(), nullable=False),
        sa.Column("after_gap", sa.Boolean(), nullable=False),
        sa.Column("end_reason", sa.String(length=8), nullable=False),
        sa.Column("computed_at", Stamp(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "logistics_geofences",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("base_id", sa.Integer(), nullable=True),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("created_at", Stamp(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", Stamp(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_logistics_geofences_location_id_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["base_id"],
            ["production_bases.id"],
            name=op.f("fk_logistics_geofences_base_id_production_bases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logistics_geofences")),
        sa.UniqueConstraint("location_id", name=op.f("uq_logistics_geofences_location_id")),
        sa.UniqueConstraint("base_id", name=op.f("uq_logistics_geofences_base_id")),
    )
    with op.batch_alter_table("logistics_geofences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_logistics_geofences_county"), ["county"], unique=False)

    op.create_table(
        "logistics_tracked_trips",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        *_item_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logistics_tracked_trips")),
        sa.UniqueConstraint("vehicle", "start_ms", name=op.f("uq_logistics_tracked_trips_vehicle")),
    )
    with op.batch_alter_table("logistics_tracked_trips", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_logistics_tracked_trips_county"), ["county"], unique=False
        )

    op.create_table(
        "logistics_tracked_stops",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        *_item_columns(),
        sa.Column("resume_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logistics_tracked_stops")),
        sa.UniqueConstraint("vehicle", "start_ms", name=op.f("uq_logistics_tracked_stops_vehicle")),
    )
    with op.batch_alter_table("logistics_tracked_stops", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_logistics_tracked_stops_county"), ["county"], unique=False
        )

    op.create_table(
        "logistics_trip_tracks",
        sa.Column("trip_id", SERIAL, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trip_id"],
            ["logistics_tracked_trips.id"],
            name=op.f("fk_logistics_trip_tracks_trip_id_logistics_tracked_trips"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trip_id", name=op.f("pk_logistics_trip_tracks")),
    )

    op.create_table(
        "logistics_geofence_events",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("vehicle", sa.String(length=128), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("fence_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=5), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("since_ms", sa.BigInteger(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("computed_at", Stamp(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logistics_geofence_events")),
        sa.UniqueConstraint(
            "vehicle",
            "fence_id",
            "at_ms",
            "kind",
            name=op.f("uq_logistics_geofence_events_vehicle"),
        ),
    )
    with op.batch_alter_table("logistics_geofence_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_logistics_geofence_events_county"), ["county"], unique=False
        )
        batch_op.create_index(
            "ix_logistics_geofence_events_vehicle_at", ["vehicle", "at_ms"], unique=False
        )


def downgrade() -> None:
    op.drop_table("logistics_geofence_events")
    op.drop_table("logistics_trip_tracks")
    op.drop_table("logistics_tracked_stops")
    op.drop_table("logistics_tracked_trips")
    op.drop_table("logistics_geofences")
