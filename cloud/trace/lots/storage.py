"""Lot tables: ``trace_lots`` (unique per GTIN and lot number) and their parents."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow


class TraceLot(Base):
    """One lot of one product: a GS1 lot number (AI 10) is unique within its GTIN.

    ``county`` and ``org_id`` are the producing organisation's: every event that names
    the lot belongs to that county, and organisation roles write only their own lots.
    """

    __tablename__ = "trace_lots"
    __table_args__ = (UniqueConstraint("gtin", "lot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: GTIN-14 (check digit verified)
    gtin: Mapped[str] = mapped_column(String(14))
    #: GS1 AI 10: 1-20 characters of GS1's set 82
    lot: Mapped[str] = mapped_column(String(20))
    county: Mapped[str] = mapped_column(String(6), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: the catalog's product of this GTIN
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), nullable=True)
    quantity: Mapped[Decimal | None] = mapped_column(Numeric(20, 6), nullable=True)
    #: UN/ECE Recommendation 20 unit code (KGM, TNE, H87, ...)
    unit: Mapped[str | None] = mapped_column(String(3), nullable=True)
    #: the catalog's production base the lot comes from
    origin_base_id: Mapped[int | None] = mapped_column(
        ForeignKey("production_bases.id"), nullable=True
    )
    #: harvest or production date
    produced_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class TraceLotParent(Base):
    """``lot_id`` was made from ``parent_id`` (a merge, a split, a processing step)."""

    __tablename__ = "trace_lot_parents"

    lot_id: Mapped[int] = mapped_column(ForeignKey("trace_lots.id"), primary_key=True)
    parent_id: Mapped[int] = mapped_column(
        ForeignKey("trace_lots.id"), primary_key=True, index=True
    )
