"""Service-station tables: a station's public-service attributes, keyed by its catalog
location (``locations.id``, kind ``station``; never a second station table), and the
shops whose orders are attributable to it (its monthly performance).

Money is never stored here: sales come from ``cloud.commerce`` at read time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

#: A station's statuses and where each may go (closed is final).
STATUSES = ("building", "open", "suspended", "closed")
TRANSITIONS: dict[str, frozenset[str]] = {
    "building": frozenset({"open", "closed"}),
    "open": frozenset({"suspended", "closed"}),
    "suspended": frozenset({"open", "closed"}),
    "closed": frozenset(),
}
#: The services a station offers (code -> Chinese, English).
SERVICES: dict[str, tuple[str, str]] = {
    "buy_on_behalf": ("代购", "buying on behalf"),
    "sell_on_behalf": ("代销", "selling on behalf"),
    "parcels": ("快递收发", "parcels"),
    "payments": ("便民缴费", "payments"),
    "training": ("电商培训", "training"),
}
TIERS: dict[str, tuple[str, str]] = {
    "county": ("县级运营中心", "county operation centre"),
    "township": ("乡镇服务站", "township station"),
    "village": ("村级服务点", "village point"),
}


class StationInfo(Base):
    """The public-service attributes of a station (a catalog location of kind station)."""

    __tablename__ = "service_stations"

    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), primary_key=True)
    #: the location's county and tier, copied for one-table queries (they never change)
    county: Mapped[str] = mapped_column(String(6), index=True)
    tier: Mapped[str] = mapped_column(String(16))
    #: the operator organisation (the location's org_id), None: the county's own
    org_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    #: WGS-84
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    #: 统计用区划代码 (12 digits) of its township and village (None above that tier)
    township_code: Mapped[str | None] = mapped_column(String(12), nullable=True)
    village_code: Mapped[str | None] = mapped_column(String(12), nullable=True)
    #: who runs it as the public sees it (an organisation's or office's name; no person)
    operator_name: Mapped[str] = mapped_column(String(200))
    hours: Mapped[str] = mapped_column(String(200))
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(12), default="building")
    status_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def as_dict(self) -> dict[str, Any]:
        return {c.name: getattr(self, c.name) for c in self.__table__.columns}


class StationShop(Base):
    """A shop whose orders count in a station's performance (its O2O shop, or a shop it
    runs for the village)."""

    __tablename__ = "service_station_shops"
    __table_args__ = (UniqueConstraint("shop_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("service_stations.location_id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("commerce_shops.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
