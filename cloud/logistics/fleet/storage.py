"""Fleet attribute tables, keyed by the catalog (never a second vehicle, room or station
table): a carrier is an :class:`~cloud.catalog.storage.Organisation` of kind
``carrier``; a vehicle is a catalog mobile device of kind ``vehicle``; a compartment or
cold room is a catalog location."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

#: Temperature classes of goods and of what a vehicle can keep.
TEMP_CLASSES = ("frozen", "chilled", "cool", "ambient")


class VehicleInfo(Base):
    """A vehicle's attributes, keyed by its catalog mobile device (kind ``vehicle``)."""

    __tablename__ = "logistics_vehicles"

    device_id: Mapped[str] = mapped_column(ForeignKey("mobile_devices.device_id"), primary_key=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    #: The carrier: the device's owner organisation.
    carrier_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    plate: Mapped[str] = mapped_column(String(16), unique=True)
    vehicle_type: Mapped[str] = mapped_column(String(32))
    refrigerated: Mapped[bool] = mapped_column(Boolean)
    #: The classes it can carry (TEMP_CLASSES).
    temp_classes: Mapped[list[str]] = mapped_column(JSON)
    capacity_kg: Mapped[float] = mapped_column(Float)
    capacity_m3: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class VehicleCompartment(Base):
    """A catalog location of kind ``vehicle_compartment`` that belongs to a vehicle."""

    __tablename__ = "logistics_vehicle_compartments"

    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("logistics_vehicles.device_id"), index=True)
    position: Mapped[int] = mapped_column(Integer)


class Driver(Base):
    """A driver of a carrier. Name, phone and ID number are sealed by cloud/pii (context
    ``logistics_drivers.<field>:<ref>``); the phone has a blind index for lookup."""

    __tablename__ = "logistics_drivers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: A random public reference (the pii context; survives a database copy).
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    carrier_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    #: The platform user (role driver) who logs in as this driver, if any.
    username: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    name_sealed: Mapped[str] = mapped_column(String(400))
    phone_sealed: Mapped[str] = mapped_column(String(400))
    phone_index: Mapped[str] = mapped_column(String(32), index=True)
    id_number_sealed: Mapped[str | None] = mapped_column(String(400), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class ColdStoreInfo(Base):
    """Capacity and occupancy of a cold store or room: a catalog location."""

    __tablename__ = "logistics_cold_stores"

    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), primary_key=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    capacity_kg: Mapped[float] = mapped_column(Float)
    capacity_m3: Mapped[float | None] = mapped_column(Float, nullable=True)
    occupied_kg: Mapped[float] = mapped_column(Float, default=0.0)
    temp_class: Mapped[str] = mapped_column(String(8))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128))
