"""Broker accounts of the cloud's own services (ingest, api), one per service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow


class ServiceAccount(Base):
    __tablename__ = "service_accounts"

    name: Mapped[str] = mapped_column(String(48), primary_key=True)
    #: ingest | api
    role: Mapped[str] = mapped_column(String(32))
    mqtt_password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
