"""The ``inspections`` table: one row per inspection event, keyed by its natural id
(gateway, event id) so that a resent event is stored once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow


class InspectionRecord(Base):
    __tablename__ = "inspections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gateway_id: Mapped[str] = mapped_column(String(48))
    event_id: Mapped[str] = mapped_column(String(64))
    county: Mapped[str] = mapped_column(String(6))
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(128), index=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    program: Mapped[str] = mapped_column(String(32))
    lot: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    usable: Mapped[bool] = mapped_column(Boolean)
    unusable_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    grade: Mapped[str | None] = mapped_column(String(64), nullable=True)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    measurements: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: SHA-256 of the original image, which stays on the gateway
    image_sha256: Mapped[str] = mapped_column(String(64), index=True)
    #: the thumbnail's key in the file store (its SHA-256); None: no usable thumbnail
    thumbnail_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: why the event's thumbnail was not stored (not base64, not a JPEG, too large)
    thumbnail_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ts_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("gateway_id", "event_id"),
        Index("ix_inspections_county_ts", "county", "ts"),
    )
