"""Brand tables: the rule sets (versioned; the newest is in force) and the decisions,
append-only: one row each time a lot gains or loses the brand, with every rule's state
and the reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow


class BrandRuleset(Base):
    """One version of the 德宏品牌 admission rules (a JSON list of rules); the highest
    version is in force. Versions are never changed: a change is a new version."""

    __tablename__ = "trace_brand_rulesets"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class BrandDecision(Base):
    """A lot gained (``granted``) or lost the brand: written when the evaluation's
    outcome differs from the lot's previous decision (or there is none), never
    changed or deleted. ``states`` is every rule's state with its evidence."""

    __tablename__ = "trace_brand_decisions"
    __table_args__ = (Index("ix_trace_brand_decisions_lot", "lot_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("trace_lots.id"))
    county: Mapped[str] = mapped_column(String(6), index=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    ruleset_version: Mapped[int] = mapped_column(Integer)
    states: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    #: why: the rules not met (or "every rule met")
    reason: Mapped[str] = mapped_column(Text)
    #: what made us evaluate: read, event, certificate, test, rules, sweep
    trigger: Mapped[str] = mapped_column(String(16))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
