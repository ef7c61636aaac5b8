"""Relational store: SQLAlchemy 2 (async) with Alembic migrations.

SQLite by default, PostgreSQL when the URL says so. Every table lives in the
domain package that owns it, on the one :class:`Base` metadata.
"""

from cloud.db.base import Base, utcnow
from cloud.db.engine import Database, async_url, sync_url

__all__ = ["Base", "Database", "async_url", "sync_url", "utcnow"]
