"""Statistics-collection forms: one submission per station, form kind and month (a
correction replaces the values and raises ``version``; the audit log keeps each)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow


class FormSubmission(Base):
    __tablename__ = "statform_submissions"
    __table_args__ = (UniqueConstraint("station_id", "kind", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("service_stations.location_id"))
    county: Mapped[str] = mapped_column(String(6), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    month: Mapped[str] = mapped_column(String(7))
    #: the validated values (money as decimal strings of yuan)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: filed after the form's due date (the first filing decides)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
