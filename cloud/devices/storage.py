"""Tables of the device registry: gateways and the devices they report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow
from cloud.ingest.storage import ReceivedBatch


class Gateway(Base):
    __tablename__ = "gateways"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    name: Mapped[str] = mapped_column(String(200))
    site: Mapped[str] = mapped_column(String(64))
    #: Mosquitto PBKDF2-SHA512 hash ($7$); the password itself is never stored.
    mqtt_password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Session state from birth/death: online iff birth_session > death_session.
    birth_session: Mapped[int] = mapped_column(BigInteger, default=-1)
    death_session: Mapped[int] = mapped_column(BigInteger, default=-1)
    last_birth_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_death_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    versions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    config_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    inventory: Mapped[list[Any]] = mapped_column(JSON, default=list)

    @property
    def online(self) -> bool:
        return self.revoked_at is None and self.birth_session > self.death_session


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    site: Mapped[str] = mapped_column(String(64))
    #: The gateway that heard it last (a BLE tag may be heard by several).
    gateway_id: Mapped[str] = mapped_column(String(48), index=True)
    metrics: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Newest reading time (ms) received for this device.
    last_reading_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    readings: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (Index("ix_devices_county_gateway", "county", "gateway_id"),)


class GatewaySeq(Base):
    """Completeness per gateway: the highest contiguous batch sequence written."""

    __tablename__ = "gateway_seq"

    gateway_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    contiguous_seq: Mapped[int] = mapped_column(BigInteger, default=-1)
    max_seq: Mapped[int] = mapped_column(BigInteger, default=-1)
    gaps: Mapped[int] = mapped_column(Integer, default=0)


#: The reading counters of a gateway's health (unit: readings), stored as they come.
READING_COUNTERS = ("taken_readings", "sent_readings", "acked_readings", "pending_readings")


class GatewayHealth(Base):
    """The newest ``health`` of each gateway: its pending backlog, for completeness."""

    __tablename__ = "gateway_health"

    gateway_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    pending_batches: Mapped[int] = mapped_column(Integer, default=0)
    buffer_depth: Mapped[int] = mapped_column(BigInteger, default=0)
    buffer_oldest_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    clock: Mapped[str] = mapped_column(String(16), default="unknown")
    # Reading counters, in readings (protocol.messages.Health); null when not reported.
    taken_readings: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sent_readings: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    acked_readings: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    pending_readings: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


#: For completeness (:mod:`cloud.devices.completeness`): the sequence numbers one
#: gateway wrote after a given one, without scanning all it ever wrote. Declared here,
#: with the code that needs it, on the ingest path's table (migration 0201).
Index("ix_received_batches_gateway_seq", ReceivedBatch.gateway_id, ReceivedBatch.seq)
