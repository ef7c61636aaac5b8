"""Catalog tables: organisations, the owner of each registered mobile device, production
bases, locations and the devices that measure them, commodity profiles and products.

A station (县-乡-村 service station) is a :class:`Location` of kind ``station``:
logistics and public service add their own attribute tables keyed by
``locations.id``, never a second station table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

#: What an organisation is in the programme.
ORG_KINDS = (
    "enterprise",
    "cooperative",
    "carrier",
    "operating_company",
    "shop",
    "station",
    "platform",
)
#: What a production base is.
BASE_KINDS = ("farm", "garden", "orchard", "tea_garden", "plantation", "pasture", "aquaculture",
              "processing_site")  # fmt: skip
#: What a location is.
LOCATION_KINDS = ("cold_room", "warehouse", "vehicle_compartment", "station", "customer_site",
                  "processing_site")  # fmt: skip
#: The tiers of the county-township-village station network (县-乡-村).
STATION_TIERS = ("county", "township", "village")


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
    #: The contact person: personal data (masked for roles without ``personal:read``).
    contact_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    contact_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: The registered business address.
    address: Mapped[str | None] = mapped_column(String(300), nullable=True)
    #: The national traceability platform's 主体码, stored as given (its format is not
    #: public), with who issued it; unique per issuer.
    platform_code: Mapped[str | None] = mapped_column(String(128), nullable=True)
    platform_issuer: Mapped[str | None] = mapped_column(String(100), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (UniqueConstraint("platform_issuer", "platform_code"),)


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


class CommodityProfile(Base):
    """How a commodity must be kept: the temperature range, how long one excursion and
    all excursions together may last, and optionally the relative humidity range.

    ``county`` 533100 is a profile of the whole prefecture (every county reads it);
    a county's own profiles are that county's.
    """

    __tablename__ = "commodity_profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(100), nullable=True)
    temp_min_c: Mapped[float] = mapped_column(Float)
    temp_max_c: Mapped[float] = mapped_column(Float)
    #: Longest a single excursion outside the range may last, s.
    single_excursion_max_s: Mapped[int] = mapped_column(Integer)
    #: Longest all excursions of one stay (custody interval) may last together, s.
    cumulative_excursion_max_s: Mapped[int] = mapped_column(Integer)
    rh_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    rh_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: The product categories it fits (codes of :mod:`cloud.catalog.categories`).
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (UniqueConstraint("county", "name"),)


class ProductionBase(Base):
    """A farm, garden, orchard or processing site of an enterprise or cooperative."""

    __tablename__ = "production_bases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(24))
    #: GeoJSON Point or Polygon, WGS-84 (lon, lat), as validated by cloud.catalog.geo.
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: A representative point (the point, or the mean of the polygon's outer ring).
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    area_ha: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Location(Base):
    """A place that holds goods: a cold room, warehouse, vehicle compartment, station
    (with its tier: county, township, village), customer site or processing site.

    Identified by a GS1 GLN, with an extension (AI 254) for an SGLN sub-location
    (``""``: none). ``org_id`` is its operator (optional: a county's own station);
    ``profile_id`` the commodity profile assigned to it (a room), pushed to the
    gateways of its wired devices.
    """

    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(200))
    county: Mapped[str] = mapped_column(String(6), index=True)
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True, index=True
    )
    base_id: Mapped[int | None] = mapped_column(
        ForeignKey("production_bases.id"), nullable=True, index=True
    )
    #: county / township / village for a station, else None.
    tier: Mapped[str | None] = mapped_column(String(16), nullable=True)
    gln: Mapped[str] = mapped_column(String(13))
    gln_extension: Mapped[str] = mapped_column(String(20), default="")
    profile_id: Mapped[int | None] = mapped_column(
        ForeignKey("commodity_profiles.id"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (UniqueConstraint("gln", "gln_extension"),)


class LocationDevice(Base):
    """A time-series device measuring a location from ``since`` until ``until`` (None:
    still). A device measures one location at a time; the history is kept."""

    __tablename__ = "location_devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    device_id: Mapped[str] = mapped_column(String(128), index=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(128))
    ended_by: Mapped[str | None] = mapped_column(String(128), nullable=True)

    __table_args__ = (Index("ix_location_devices_location_since", "location_id", "since"),)


class Product(Base):
    """A trade item with its GTIN-14 (unique), category, maker and commodity profile."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gtin: Mapped[str] = mapped_column(String(14), unique=True)
    #: The Chinese name (名称); ``name_en`` the English one.
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200), nullable=True)
    category: Mapped[str] = mapped_column(String(24), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    profile_id: Mapped[int | None] = mapped_column(
        ForeignKey("commodity_profiles.id"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
