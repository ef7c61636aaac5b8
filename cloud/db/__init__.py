"""Relational store: SQLAlchemy 2 (async) with Alembic migrations.

SQLite by default, PostgreSQL when the URL says so. Every table lives in the
domain package that owns it, on the one :class:`Base` metadata.
"""

from cloud.db.base import MAX_INT32, Base, utcnow
from cloud.db.engine import Database, async_url, note_write, sync_url, write_generation

__all__ = [
    "MAX_INT32",
    "Base",
    "Database",
    "async_url",
    "note_write",
    "sync_url",
    "utcnow",
    "write_generation",
]
