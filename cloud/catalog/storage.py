"""Catalog tables: organisations, and the owner of each registered mobile device."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

#: What an organisation is in the programme.
ORG_KINDS = ("enterprise", "cooperative", "carrier", "operating_company")


class Organisation(Base):
    """An enterprise, cooperative, carrier or operating company of one county."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(200))
    #: Unified social credit code (GB 32100), check character verified; unique.
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class MobileDevice(Base):
    """A mobile device (a BLE tag, a vehicle) registered to its owner organisation.

    ``county`` is the owner's county, kept here so that ingest reads ownership with
    one query; every reading of the device is stored under it, whichever gateway
    heard it.
    """

    __tablename__ = "mobile_devices"

    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    registered_by: Mapped[str] = mapped_column(String(128))
