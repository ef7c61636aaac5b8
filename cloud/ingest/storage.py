"""Tables of the ingest path: dead letters, received batches, events, store alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow


class DeadLetterPayload(Base):
    """A refused message's bytes, stored once by their SHA-256 however many letters
    (parts of one batch, resends, re-rejections) refer to them."""

    __tablename__ = "dead_letter_payloads"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeadLetter(Base):
    """A message, or part of one, that broke the wire contract, with the reason."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    topic: Mapped[str] = mapped_column(String(255))
    #: Parsed from the topic when possible; "" when the topic itself was bad.
    county: Mapped[str] = mapped_column(String(6), default="", index=True)
    gateway_id: Mapped[str] = mapped_column(String(64), default="")
    code: Mapped[str] = mapped_column(String(32), index=True)
    field: Mapped[str] = mapped_column(String(255), default="")
    reason: Mapped[str] = mapped_column(Text)
    payload_sha256: Mapped[str] = mapped_column(
        String(64), ForeignKey("dead_letter_payloads.sha256"), index=True
    )
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReplayJob(Base):
    """A replay of dead letters, run in the background by the API process."""

    __tablename__ = "dead_letter_replays"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: who asked (audit actor) and their county: the job is visible in that county
    actor: Mapped[str] = mapped_column(String(128))
    county: Mapped[str] = mapped_column(String(6), index=True)
    letter_ids: Mapped[list[int]] = mapped_column(JSON)
    #: queued, running, done, failed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    replayed: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    #: one outcome per letter done: {id, replayed, code, field, reason}
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: the runner's heartbeat: progress is written at least this often while it runs
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReceivedBatch(Base):
    """Every data batch written, keyed by its natural id: a resend is a duplicate."""

    __tablename__ = "received_batches"

    gateway_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    points: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    deliveries: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventRecord(Base):
    """An event from a gateway (alarm, device up/down, inspection, buffer, driver)."""

    __tablename__ = "events"

    gateway_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    type: Mapped[str] = mapped_column(String(32), index=True)
    device: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    attrs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IngestAlert(Base):
    """An alert about the time-series store, one row per kind (``store_auth``,
    ``store_not_found``, ``store_unavailable``, ...): active while ``cleared_at`` is
    None. Ingest keeps the data and retries meanwhile; this is for the operator."""

    __tablename__ = "ingest_alerts"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The worker (MQTT client id) that raised or cleared it last.
    worker: Mapped[str] = mapped_column(String(128), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
