"""Supply posts (货源): goods a cooperative has ready to ship."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

SUPPLY_STATUSES = ("open", "booked", "closed")


class SupplyPost(Base):
    __tablename__ = "logistics_supply"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), nullable=True)
    description: Mapped[str] = mapped_column(String(300))
    quantity_kg: Mapped[float] = mapped_column(Float)
    volume_m3: Mapped[float | None] = mapped_column(Float, nullable=True)
    temp_class: Mapped[str] = mapped_column(String(8))
    #: The window in which it can be picked up (Beijing dates, inclusive).
    ready_from: Mapped[date] = mapped_column(Date)
    ready_until: Mapped[date] = mapped_column(Date)
    origin_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    destination_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(8), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
