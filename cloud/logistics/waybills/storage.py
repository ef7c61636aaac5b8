"""Trips, their stops, waybills, their audited transitions, proofs of delivery and
one-time codes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow


class Trip(Base):
    """One vehicle with one driver on one (Beijing) day, with its stops."""

    __tablename__ = "logistics_trips"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    carrier_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    vehicle_id: Mapped[str] = mapped_column(ForeignKey("logistics_vehicles.device_id"))
    driver_id: Mapped[int | None] = mapped_column(
        ForeignKey("logistics_drivers.id"), nullable=True, index=True
    )
    day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))

    __table_args__ = (Index("ix_logistics_trips_vehicle_day", "vehicle_id", "day"),)


class Stop(Base):
    """A drop (or pick-up) of a trip at a catalog location; waybills name their stop."""

    __tablename__ = "logistics_stops"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trip_id: Mapped[int] = mapped_column(ForeignKey("logistics_trips.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    kind: Mapped[str] = mapped_column(String(8))  # pickup | drop
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (UniqueConstraint("trip_id", "seq"),)


class Waybill(Base):
    __tablename__ = "logistics_waybills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: The printed number: WB{county}{yymmdd}{id:06d} style, unique.
    number: Mapped[str] = mapped_column(String(32), unique=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    shipper_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    supply_id: Mapped[int | None] = mapped_column(ForeignKey("logistics_supply.id"), nullable=True)
    origin_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    destination_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    temp_class: Mapped[str] = mapped_column(String(8))
    weight_kg: Mapped[float] = mapped_column(Float)
    volume_m3: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: The lots on board: [{"gtin", "lot", "quantity"?, "unit"?}] (trace lot refs).
    lots: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    #: The receiver's phone for a one-time code: sealed by cloud/pii (optional).
    receiver_phone_sealed: Mapped[str | None] = mapped_column(String(400), nullable=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    carrier_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True, index=True
    )
    trip_id: Mapped[int | None] = mapped_column(
        ForeignKey("logistics_trips.id"), nullable=True, index=True
    )
    stop_id: Mapped[int | None] = mapped_column(ForeignKey("logistics_stops.id"), nullable=True)
    vehicle_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WaybillEvent(Base):
    """One transition of a waybill (the audit log also has it)."""

    __tablename__ = "logistics_waybill_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    waybill_id: Mapped[int] = mapped_column(ForeignKey("logistics_waybills.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    #: When it happened (the phone's time, or the geofence's fix time).
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    #: api | phone | geofence | cli ...
    source: Mapped[str] = mapped_column(String(16))
    #: The client's id of the request (a queued phone action sent twice is one event).
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    #: The EPCIS event written for it (loading: shipping; delivery: receiving).
    trace_event_id: Mapped[str | None] = mapped_column(String(128), nullable=True)

    __table_args__ = (UniqueConstraint("waybill_id", "request_id"),)


class ProofOfDelivery(Base):
    __tablename__ = "logistics_pods"

    waybill_id: Mapped[int] = mapped_column(ForeignKey("logistics_waybills.id"), primary_key=True)
    stop_id: Mapped[int | None] = mapped_column(ForeignKey("logistics_stops.id"), nullable=True)
    #: File store keys (SHA-256) of the JPEG photo and the PNG signature.
    photo_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    signature_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    receiver_name_sealed: Mapped[str] = mapped_column(String(400))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    fix_at: Mapped[datetime] = mapped_column(UTCDateTime)
    otp_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(128))


class DeliveryCode(Base):
    """A one-time code sent to the receiver: only its hash is kept."""

    __tablename__ = "logistics_delivery_codes"

    waybill_id: Mapped[int] = mapped_column(ForeignKey("logistics_waybills.id"), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
