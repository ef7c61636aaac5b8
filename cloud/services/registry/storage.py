"""Registry tables: organisations' self-registrations and the platforms' API keys.

A registration is what an enterprise, cooperative, shop, station or e-commerce
platform submits about itself (USCC, licence scan, contact); the county reviews it.
Approved, it becomes a catalog organisation (``org_id``) and uses every service on the
same terms as one the county entered itself. The contact and address are personal
data: masked for roles without ``personal:read``, never in the audit log.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

#: What may register itself, as its catalog organisation kind.
REGISTRATION_KINDS = ("enterprise", "cooperative", "shop", "station", "platform")
#: pending -> approved | refused (final either way; a refused applicant registers again).
STATUSES = ("pending", "approved", "refused")


class Registration(Base):
    __tablename__ = "svc_registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    #: Unified social credit code (GB 32100), check character verified.
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    #: Personal data (masked without ``personal:read``).
    contact_name: Mapped[str] = mapped_column(String(100))
    contact_phone: Mapped[str] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(300), nullable=True)
    #: The business-licence scan in the file store (SHA-256 key), once uploaded.
    licence_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    licence_content_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    licence_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    #: Why it was refused (required then).
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: SHA-256 of the receipt the registrant got: it uploads the scan and reads the
    #: outcome with it (the receipt itself is shown once, never stored).
    receipt_hash: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Beijing month of submission (``YYYY-MM``), for the monthly figures.
    month: Mapped[str] = mapped_column(String(7), index=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: Beijing month of the review.
    reviewed_month: Mapped[str | None] = mapped_column(String(7), nullable=True)
    #: The catalog organisation it became (approved).
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), nullable=True)


class PlatformKey(Base):
    """An API key (role ``platform``) of a registered e-commerce platform; the shops it
    acts for are :class:`cloud.auth.storage.ApiKeyShop` rows."""

    __tablename__ = "svc_platform_keys"

    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
