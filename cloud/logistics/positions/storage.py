"""Tables of positions: phone trackers and their counts, the time windows that fixes
touched (to recompute), and the simplified daily tracks kept 2 years.

The fixes themselves live in the time series (measurement ``vehicle``), never here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

#: The speed unit of a tracker's query-form fixes (protocol.positions.KMH_PER).
SPEED_UNITS = ("ms", "kn", "kmh", "mph")


class Tracker(Base):
    """A phone (OsmAnd / Traccar Client) reporting for one vehicle.

    Its device id is a secret shown once; only its SHA-256 is kept (unique), so a fix
    finds its tracker with one index lookup. ``speed_unit`` is the unit of the query
    form's ``speed`` (the JSON form is always m/s).
    """

    __tablename__ = "logistics_trackers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    #: The vehicle: a catalog mobile device of kind ``vehicle``.
    vehicle: Mapped[str] = mapped_column(String(128), index=True)
    #: The vehicle owner's county, copied at creation (fixes are stored under it).
    county: Mapped[str] = mapped_column(String(6), index=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    speed_unit: Mapped[str] = mapped_column(String(4), default="ms")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class TrackerCount(Base):
    """How many fixes of a tracker were accepted, or filtered and why."""

    __tablename__ = "logistics_tracker_counts"

    tracker_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WindowConsumer(Base):
    """A job that recomputes from positions (trips, geofences, ...): each mark of a
    touched window is made once per consumer (:mod:`.dirty`)."""

    __tablename__ = "position_window_consumers"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DirtyWindow(Base):
    """One hour (UTC, by fix time) of one vehicle's positions that changed since the
    consumer last recomputed it. ``generation`` grows with each new mark, so completing
    a claim leaves a window marked again meanwhile."""

    __tablename__ = "position_dirty_windows"

    consumer: Mapped[str] = mapped_column(String(32), primary_key=True)
    device: Mapped[str] = mapped_column(String(128), primary_key=True)
    county: Mapped[str] = mapped_column(String(6), primary_key=True)
    window_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=1)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: A claim not completed by then may be claimed again (its worker died).
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Track(Base):
    """One vehicle's simplified track of one Beijing day (Douglas-Peucker), kept 2
    years beside the raw points of the retention window."""

    __tablename__ = "position_tracks"

    device: Mapped[str] = mapped_column(String(128), primary_key=True)
    county: Mapped[str] = mapped_column(String(6), primary_key=True)
    #: The Beijing day, ``YYYY-MM-DD``.
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    tolerance_m: Mapped[float] = mapped_column(Float)
    #: ``[[ts_ms, lat, lon], ...]`` in fix-time order.
    points: Mapped[list[Any]] = mapped_column(JSON)
    raw_count: Mapped[int] = mapped_column(Integer)
    distance_m: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
