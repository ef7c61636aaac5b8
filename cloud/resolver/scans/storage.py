"""``scans``: one row per consumer scan; ``scan_flags``: the anomalies found in them.

A scan keeps its time, the browser's user agent (cut to 300 characters) and, only if
the browser shared its position, the prefecture-level city it falls in (GB/T 2260
code and the city's centre; never the position itself). The scan's token, given to
the browser that scanned, is kept as its SHA-256 only: the token alone may add the
place, and a copy of the database does not give it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

Serial = BigInteger().with_variant(Integer(), "sqlite")


class Scan(Base):
    __tablename__ = "scans"
    __table_args__ = (Index("ix_scans_lot_serial_at", "lot_id", "serial", "at"),)

    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    #: SHA-256 (hex) of the scan's token
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("trace_lots.id"))
    county: Mapped[str] = mapped_column(String(6), index=True)
    #: GS1 AI 21; "" for a scan of the lot's own code (no serial)
    serial: Mapped[str] = mapped_column(String(20), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_agent: Mapped[str | None] = mapped_column(String(300), nullable=True)
    #: the shared place, rounded to its prefecture-level city (GB/T 2260) and its centre
    city: Mapped[str | None] = mapped_column(String(6), nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ScanFlag(Base):
    """One anomaly: ``kind`` is ``impossible_travel``, ``too_many_scans`` (of a serial)
    or ``outside_destinations`` (of a lot: ``serial`` ""). One row per (kind, lot,
    serial), updated as more scans confirm it (``hits``, ``last_at``, ``detail``)."""

    __tablename__ = "scan_flags"
    __table_args__ = (Index("ux_scan_flags_key", "kind", "lot_id", "serial", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(24))
    lot_id: Mapped[int] = mapped_column(ForeignKey("trace_lots.id"))
    county: Mapped[str] = mapped_column(String(6), index=True)
    serial: Mapped[str] = mapped_column(String(20), default="")
    hits: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
