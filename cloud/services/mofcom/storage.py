"""The delivery log of the MOFCOM push (migration 1030, branch ``services_mofcom``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow


class MofcomDelivery(Base):
    """One push of one month's export: ``pending`` → ``sent`` | ``failed``, updated after
    every attempt (a stopped process leaves it ``pending``; the next push of that month
    is a new row)."""

    __tablename__ = "mofcom_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    format_version: Mapped[str] = mapped_column(String(16))
    #: the endpoint without its query string (a token in a query is never stored)
    endpoint: Mapped[str] = mapped_column(String(500))
    #: schedule | api | cli
    trigger: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: SHA-256 (hex) and size of the JSON body sent
    body_sha256: Mapped[str] = mapped_column(String(64))
    body_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
