"""Custody tables: ``trace_custody_evidence`` (each evidence event computed for a
custody interval, with its figures; never updated) and ``trace_custody_cursor`` (how
far the evidence job has read the event store).

Custody intervals themselves are not stored: they are derived from the events each
time (:mod:`cloud.trace.custody.rules`), so an error declaration or a late event
changes them at once. Evidence is keyed by the interval's lot, place and start; the
newest row of a key is the current evidence, each newer one names the one it
supersedes (as its event does, ``dh:supersedes``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

#: A 64-bit serial on PostgreSQL; SQLite's INTEGER PRIMARY KEY (the rowid) is 64 bits.
Serial = BigInteger().with_variant(Integer(), "sqlite")


class CustodyEvidence(Base):
    """One evidence event of one custody interval (of ``lot_id`` at ``place`` from
    ``custody_start``). ``period_end`` is the end of the evidence (the interval's end,
    or when it was computed for an interval still open)."""

    __tablename__ = "trace_custody_evidence"
    __table_args__ = (
        Index("ix_trace_custody_evidence_key", "lot_id", "place", "custody_start", "id"),
        Index("ix_trace_custody_evidence_period_end", "period_end"),
    )

    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("trace_lots.id"))
    county: Mapped[str] = mapped_column(String(6))
    #: the interval's bizLocation, normalised (a Digital Link /414/{gln}[/254/{ext}])
    place: Mapped[str] = mapped_column(Text)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    custody_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    #: whether the interval was closed when this evidence was computed
    closed: Mapped[bool] = mapped_column(Boolean)
    event_id: Mapped[str] = mapped_column(Text, unique=True)
    #: the eventID of the evidence this one replaces (late data), if any
    supersedes: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(24))
    coverage: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str | None] = mapped_column(String(8), nullable=True)
    #: SHA-256 of the event's content (:func:`cloud.trace.custody.event.fingerprint`)
    fingerprint: Mapped[str] = mapped_column(String(64))
    #: what the API answers: summary per quantity, elements, limits
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    computed_by: Mapped[str] = mapped_column(String(128))


class CustodyCursor(Base):
    """The evidence job's place in the event store: events up to ``last_seq`` have been
    looked at for the lots whose custody they change."""

    __tablename__ = "trace_custody_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
