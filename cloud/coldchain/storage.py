"""Excursions and alarms (migration 0740).

``coldchain_excursions`` is derived data: the engine recomputes it from the time
series for any stretch late readings touched (unique per device, metric and start).
``coldchain_alarms`` is the lifecycle people act on: raised -> acknowledged (who,
when, comment) -> cleared; ``count`` says how many times its condition came back
(flapping) before it was cleared. Every transition is in the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

MS = BigInteger().with_variant(Integer(), "sqlite")


class ColdchainExcursion(Base):
    __tablename__ = "coldchain_excursions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device: Mapped[str] = mapped_column(String(128))
    metric: Mapped[str] = mapped_column(String(64))
    county: Mapped[str] = mapped_column(String(6), index=True)
    location_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    start_ms: Mapped[int] = mapped_column(MS)
    end_ms: Mapped[int | None] = mapped_column(MS, nullable=True)
    duration_s: Mapped[float] = mapped_column(Float)
    direction: Mapped[int] = mapped_column(Integer)
    peak_c: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(16))
    door: Mapped[bool] = mapped_column(Boolean, default=False)
    single_breach_ms: Mapped[int | None] = mapped_column(MS, nullable=True)
    cumulative_breach_ms: Mapped[int | None] = mapped_column(MS, nullable=True)
    confirmed_ms: Mapped[int] = mapped_column(MS)
    low_c: Mapped[float | None] = mapped_column(Float, nullable=True)
    high_c: Mapped[float | None] = mapped_column(Float, nullable=True)
    alarm_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    cumulative_alarm_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("device", "metric", "start_ms"),
        Index("ix_coldchain_excursions_device_start", "device", "start_ms"),
    )


class ColdchainAlarm(Base):
    __tablename__ = "coldchain_alarms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    location_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    #: the location's operator (an organisation role acknowledges its own)
    org_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    device: Mapped[str] = mapped_column(String(128), index=True)
    metric: Mapped[str] = mapped_column(String(64))
    #: "range", "cumulative", or "gateway:{rule}" (a gateway's local alarm)
    rule: Mapped[str] = mapped_column(String(80))
    #: cloud | gateway
    source: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    #: raised | acknowledged | cleared
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: the condition holds now (an excursion goes on, the gateway has not cleared it)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    count: Mapped[int] = mapped_column(Integer, default=1)
    #: reading time of the first and latest occurrence
    first_ms: Mapped[int] = mapped_column(MS)
    last_ms: Mapped[int] = mapped_column(MS)
    peak_c: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    ack_comment: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cleared_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: the escalation steps done (0: none yet)
    escalation_step: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_coldchain_alarms_key", "device", "metric", "rule", "status"),)
