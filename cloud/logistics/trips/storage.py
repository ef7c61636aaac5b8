"""Tables: geofences (one per catalog location or production base), and what the
recompute derives from a vehicle's fixes: trips, stops, their tracks for replay, and
geofence events. Times of fixes are UTC epoch ms (``*_ms``), as the time series has them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

SERIAL = BigInteger().with_variant(Integer(), "sqlite")


class Geofence(Base):
    """A circle or polygon around a catalog location (cold store, warehouse, station,
    customer site) or a production base; one per location or base. ``geometry``:
    ``{"type": "circle", "center": [lon, lat], "radius_m": r}`` or ``{"type": "polygon",
    "coordinates": [[lon, lat], ...]}`` (one closed ring), WGS-84."""

    __tablename__ = "logistics_geofences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    name: Mapped[str] = mapped_column(String(200))
    location_id: Mapped[int | None] = mapped_column(
        ForeignKey("locations.id"), nullable=True, unique=True
    )
    base_id: Mapped[int | None] = mapped_column(
        ForeignKey("production_bases.id"), nullable=True, unique=True
    )
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class _Item:
    """Columns shared by trips and stops."""

    vehicle: Mapped[str] = mapped_column(String(128))
    county: Mapped[str] = mapped_column(String(6), index=True)
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    end_lat: Mapped[float] = mapped_column(Float)
    end_lon: Mapped[float] = mapped_column(Float)
    distance_m: Mapped[float] = mapped_column(Float)
    max_speed_kmh: Mapped[float | None] = mapped_column(Float, nullable=True)
    avg_speed_kmh: Mapped[float | None] = mapped_column(Float, nullable=True)
    n_fixes: Mapped[int] = mapped_column(Integer)
    temp_n: Mapped[int] = mapped_column(Integer, default=0)
    temp_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    temp_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    temp_mean: Mapped[float | None] = mapped_column(Float, nullable=True)
    temp_mkt: Mapped[float | None] = mapped_column(Float, nullable=True)
    temp_covered_s: Mapped[float] = mapped_column(Float, default=0.0)
    after_gap: Mapped[bool] = mapped_column(Boolean)
    #: "stop" or "end" (engine.Item)
    end_reason: Mapped[str] = mapped_column(String(8))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrackedTrip(_Item, Base):
    __tablename__ = "logistics_tracked_trips"

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)

    __table_args__ = (UniqueConstraint("vehicle", "start_ms"),)


class TrackedStop(_Item, Base):
    __tablename__ = "logistics_tracked_stops"

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    #: The first fix outside the stop, where the scan went on (None: to the segment's end).
    resume_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (UniqueConstraint("vehicle", "start_ms"),)


class TripTrack(Base):
    """A trip's points for replay, simplified (track.py): columns packed and compressed."""

    __tablename__ = "logistics_trip_tracks"

    trip_id: Mapped[int] = mapped_column(
        SERIAL, ForeignKey("logistics_tracked_trips.id", ondelete="CASCADE"), primary_key=True
    )
    n: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class GeofenceEvent(Base):
    """An enter or exit of a vehicle at a geofence, at the fix that confirmed it
    (``at_ms``; ``since_ms`` the first fix of the confirming run)."""

    __tablename__ = "logistics_geofence_events"

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    vehicle: Mapped[str] = mapped_column(String(128))
    county: Mapped[str] = mapped_column(String(6), index=True)
    fence_id: Mapped[int] = mapped_column(Integer)
    location_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(5))
    at_ms: Mapped[int] = mapped_column(BigInteger)
    since_ms: Mapped[int] = mapped_column(BigInteger)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("vehicle", "fence_id", "at_ms", "kind"),
        Index("ix_logistics_geofence_events_vehicle_at", "vehicle", "at_ms"),
    )
