"""Poverty-alleviation tables: households (personal fields sealed by ``cloud.pii``),
their links to an enterprise, cooperative or station, and the income each link
brought by month (whole fen).

A household's name, ID number, phone and bank account are stored only as sealed
tokens (``pii1.<kid>...``) whose context is ``poverty_households.<field>:<ref>``; the
ID number also as a blind index (one household per ID number). Erasure (on request or
at retention end) drops the sealed values and the index; the village, links and
income stay as anonymous statistics.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

#: How a household is linked (code -> Chinese, English).
LINK_TYPES: dict[str, tuple[str, str]] = {
    "employment": ("就业带动", "employment"),
    "purchase_agreement": ("订单收购", "purchase agreement"),
    "dividend": ("入股分红", "dividend"),
    "training": ("培训带动", "training"),
}
#: What a household is linked to.
PARTNER_KINDS = ("enterprise", "cooperative", "station")
#: PIPL art. 13 legal bases for processing (code -> Chinese, English).
LEGAL_BASES: dict[str, tuple[str, str]] = {
    "consent": ("个人同意", "the person's consent (art. 13(1))"),
    "contract": ("订立、履行合同所必需", "necessary for a contract (art. 13(2))"),
    "legal_duty": ("履行法定职责或义务所必需", "statutory duty (art. 13(3))"),
    "public_interest": ("为公共利益在合理范围内处理", "public interest (art. 13(5))"),
}
#: The personal fields of a household, sealed.
PERSONAL = ("name", "id_number", "phone", "bank_account")


class Household(Base):
    __tablename__ = "poverty_households"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: a random reference, bound into each sealed field's context
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    township_code: Mapped[str] = mapped_column(String(12))
    village_code: Mapped[str] = mapped_column(String(12), index=True)
    name_sealed: Mapped[str | None] = mapped_column(String(600), nullable=True)
    id_number_sealed: Mapped[str | None] = mapped_column(String(600), nullable=True)
    id_number_index: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True)
    phone_sealed: Mapped[str | None] = mapped_column(String(600), nullable=True)
    bank_account_sealed: Mapped[str | None] = mapped_column(String(600), nullable=True)
    #: PIPL: the legal basis, when consent was obtained (or the basis established), what
    #: for, and until when the personal data may be kept
    legal_basis: Mapped[str] = mapped_column(String(24))
    consent_at: Mapped[date] = mapped_column(Date)
    purpose: Mapped[str] = mapped_column(String(300))
    retention_until: Mapped[date] = mapped_column(Date)
    #: set when the personal fields were erased; why (``request`` or ``retention``)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    erased_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class HouseholdLink(Base):
    __tablename__ = "poverty_links"
    __table_args__ = (Index("ix_poverty_links_station", "station_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("poverty_households.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    link_type: Mapped[str] = mapped_column(String(24))
    partner_kind: Mapped[str] = mapped_column(String(16))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), nullable=True)
    station_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_stations.location_id"), nullable=True
    )
    #: first and last month (``YYYY-MM``) of the link; ``until`` None: still
    since: Mapped[str] = mapped_column(String(7))
    until: Mapped[str | None] = mapped_column(String(7), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class LinkIncome(Base):
    """The income a link brought its household in one month (whole fen)."""

    __tablename__ = "poverty_income"
    __table_args__ = (
        UniqueConstraint("link_id", "month"),
        Index("ix_poverty_income_county_month", "county", "month"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("poverty_links.id"))
    household_id: Mapped[int] = mapped_column(Integer)
    county: Mapped[str] = mapped_column(String(6))
    month: Mapped[str] = mapped_column(String(7))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(128))
