"""Tables of users, API keys and the login throttle."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    #: argon2id hash
    password_hash: Mapped[str] = mapped_column(String(255))
    #: A value of :class:`cloud.auth.principal.Role` (docs/roles.md).
    role: Mapped[str] = mapped_column(String(32))
    #: GB/T 2260 code; 533100 for prefecture-wide users.
    county: Mapped[str] = mapped_column(String(6), index=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Carried by every token; a password change increments it (revoking older tokens).
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The organisation of an org-scoped role (cloud/catalog's id); None for the others.
    org_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class ApiKey(Base):
    """An integration's key. Only a SHA-256 of the secret part is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # public key id
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    county: Mapped[str] = mapped_column(String(6), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    org_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ApiKeyShop(Base):
    """A shop a platform's key acts for (role ``platform``): the key pushes that shop's
    orders and SKU mappings and nothing else. The shop id is opaque here (cloud/commerce's);
    grants are made by cloud/services/registry (migration 1000)."""

    __tablename__ = "api_key_shops"

    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), primary_key=True)
    shop_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    granted_by: Mapped[str] = mapped_column(String(128))


class LoginThrottle(Base):
    """Failed logins of one key (``ip:<address>`` or ``user:<name>``) in its window."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
