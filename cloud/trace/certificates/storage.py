"""Certificate tables: the 三品一标 certificates (with the products and bases each
covers) and the 承诺达标合格证 issued per lot.

Neither has a delete: a 合格证's issuance record is kept at least two years (its
``retain_until``), and a 三品一标 certificate stays as the evidence that a lot's
events were covered when they happened.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow


class TraceCertificate(Base):
    """A 三品一标 certificate: green food, organic, geographical indication, or the
    legacy pollution-free; its number is unique within its type.

    ``county`` is the holder's (the registered organisation's county, or the county
    given when the holder is not registered): the certificate is a record of that
    county and covers only that county's lots. The scan of the document is in the
    file store under its SHA-256 (``scan_sha256``).
    """

    __tablename__ = "trace_certificates"
    __table_args__ = (UniqueConstraint("type", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: green_food, organic, geographical_indication, pollution_free
    type: Mapped[str] = mapped_column(String(32))
    number: Mapped[str] = mapped_column(String(64))
    #: the holder's unified social credit code (GB 32100, check character verified)
    holder_uscc: Mapped[str] = mapped_column(String(18), index=True)
    #: the holder, when it is a registered organisation
    holder_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True, index=True
    )
    #: the holder's name as the certificate gives it
    holder_name: Mapped[str] = mapped_column(String(200))
    county: Mapped[str] = mapped_column(String(6), index=True)
    #: first and last day of validity (inclusive), dates in Beijing time
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    issuer: Mapped[str] = mapped_column(String(200))
    scan_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    scan_content_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    scan_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    scan_uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class TraceCertificateProduct(Base):
    """A product (GTIN-14) the certificate covers."""

    __tablename__ = "trace_certificate_products"

    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("trace_certificates.id"), primary_key=True
    )
    gtin: Mapped[str] = mapped_column(String(14), primary_key=True, index=True)


class TraceCertificateBase(Base):
    """A production base the certificate covers."""

    __tablename__ = "trace_certificate_bases"

    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("trace_certificates.id"), primary_key=True
    )
    base_id: Mapped[int] = mapped_column(
        ForeignKey("production_bases.id"), primary_key=True, index=True
    )


class TraceCommitmentCertificate(Base):
    """A 承诺达标合格证 issued for one lot: the promising entity (an organisation)
    promises that the lot meets the mandatory standards, on the stated basis.

    Kept at least until ``retain_until`` (two years after issue); there is no delete.
    """

    __tablename__ = "trace_commitment_certificates"
    __table_args__ = (Index("ix_trace_commitment_certificates_lot", "lot_id", "issued_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: ``HGZ-{county}-{yyyymmdd}-{id}``: printed on the certificate
    number: Mapped[str] = mapped_column(String(40), unique=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("trace_lots.id"))
    gtin: Mapped[str] = mapped_column(String(14))
    lot: Mapped[str] = mapped_column(String(20))
    county: Mapped[str] = mapped_column(String(6), index=True)
    #: the promising entity (承诺主体)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    product_name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[Decimal] = mapped_column(Numeric(20, 6))
    #: UN/ECE Recommendation 20 code (KGM, TNE, H87, ...)
    unit: Mapped[str] = mapped_column(String(3))
    #: 产地
    origin: Mapped[str] = mapped_column(String(300))
    #: 联系方式 of the promising entity, as printed
    contact: Mapped[str] = mapped_column(String(100))
    #: self_test (自我检测), commissioned_test (委托检测), internal_qc (内部质量控制)
    basis: Mapped[str] = mapped_column(String(24))
    #: the report or event the basis rests on (a test report number, an eventID)
    basis_ref: Mapped[str | None] = mapped_column(String(300), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: issuance records are kept at least this long (two years after issue)
    retain_until: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
