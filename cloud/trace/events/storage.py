"""Event tables: ``trace_events`` (one row per event, its body as returned),
``trace_event_objects`` (every identifier an event names, normalised, for the MATCH_
queries) and ``trace_capture_jobs`` (the capture interface's jobs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

#: A 64-bit serial on PostgreSQL; SQLite's INTEGER PRIMARY KEY (the rowid) is 64 bits.
Serial = BigInteger().with_variant(Integer(), "sqlite")


class TraceEvent(Base):
    """One EPCIS event, stored once and never changed.

    ``body`` is the event exactly as it is returned (every field, with the ``eventID``
    and ``recordTime`` we set), except an error declaration: that is kept beside it
    (``error_declaration``, ``declared_at``) and added to the body when the event is
    returned. ``seq`` orders events as they were stored (pages of the query interface).
    """

    __tablename__ = "trace_events"
    __table_args__ = (
        Index("ix_trace_events_county_event_time", "county", "event_time"),
        Index("ix_trace_events_county_record_time", "county", "record_time"),
    )

    seq: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(Text, unique=True)
    event_type: Mapped[str] = mapped_column(String(32))
    #: eventTime in UTC, and the offset the event gave (eventTimeZoneOffset)
    event_time: Mapped[datetime] = mapped_column(UTCDateTime)
    event_tz_offset: Mapped[str] = mapped_column(String(6))
    record_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    county: Mapped[str] = mapped_column(String(6))
    action: Mapped[str | None] = mapped_column(String(8), nullable=True)
    #: CBV values as bare words (``shipping``); extension values as their URI
    biz_step: Mapped[str | None] = mapped_column(Text, nullable=True, index=True)
    disposition: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: normalised identifiers (GS1 Digital Link on id.gs1.org when GS1 keys)
    read_point: Mapped[str | None] = mapped_column(Text, nullable=True)
    biz_location: Mapped[str | None] = mapped_column(Text, nullable=True, index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: the extension part of the capturing document's @context (namespace prefixes the
    #: body uses), returned in the query document's @context
    context: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    error_declaration: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True), nullable=True
    )
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: errorDeclaration.reason as a bare CBV word (or its URI)
    error_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    capture_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_by: Mapped[str] = mapped_column(String(128))


class TraceEventObject(Base):
    """An identifier an event names, in a role (``epc``, ``parent``, ``child``,
    ``input_epc``, ``output_epc``, ``quantity``, ``input_quantity``,
    ``output_quantity``), normalised so that a Digital Link on any domain and the
    equivalent EPC URN are one ``uri``; ``gtin`` and ``lot`` when it carries them."""

    __tablename__ = "trace_event_objects"
    __table_args__ = (
        Index("ix_trace_event_objects_uri", "uri", "event_seq"),
        Index("ix_trace_event_objects_gtin_lot", "gtin", "lot", "event_seq"),
    )

    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    event_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("trace_events.seq"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    uri: Mapped[str] = mapped_column(Text)
    gtin: Mapped[str | None] = mapped_column(String(14), nullable=True)
    lot: Mapped[str | None] = mapped_column(String(20), nullable=True)


class TraceCaptureJob(Base):
    """One ``POST /epcis/capture``: its state, then its outcome (REST binding's
    CaptureJob). Stored events name the job (``TraceEvent.capture_id``)."""

    __tablename__ = "trace_capture_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: GS1-Capture-Error-Behaviour: rollback or proceed
    behaviour: Mapped[str] = mapped_column(String(8))
    running: Mapped[bool] = mapped_column(Boolean, default=True)
    success: Mapped[bool] = mapped_column(Boolean, default=True)
    events: Mapped[int] = mapped_column(Integer)
    #: events stored (new ones, and the declarations added), in document order
    event_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: RFC 7807 problems, each with the ``field`` at fault
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
