"""Migrated databases for tests, without running the migrations for each test.

Alembic takes about a second per database (more on a busy CI machine), and a
hundred-odd tests start from an empty schema. The first test of the session that
needs one runs the real migrations (``upgrade heads``) into a template; each test
after it gets a copy: a file copy for SQLite (here), ``CREATE DATABASE ...
TEMPLATE`` for PostgreSQL (tests/support/postgres.py). The schema is the one the
migrations make, so the tests prove the same; the migrations themselves are run
by the template builds and by the tests that are about them
(tests/cloud/test_migration_0211.py, test_rollups' init-db).
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

from sqlalchemy.engine import make_url

from cloud.db.engine import sync_url
from cloud.db.migrate import upgrade

_lock = threading.Lock()
_sqlite_template: Path | None = None


def _sqlite_path(url: str) -> Path | None:
    u = make_url(sync_url(url))
    if not u.drivername.startswith("sqlite") or u.database in (None, "", ":memory:"):
        return None
    return Path(u.database)


def _build_sqlite_template() -> Path:
    global _sqlite_template
    with _lock:
        if _sqlite_template is None:
            tmp = Path(tempfile.mkdtemp(prefix="dehong-schema-"))
            atexit.register(shutil.rmtree, tmp, True)
            built = tmp / "migrated.db"
            upgrade(f"sqlite:///{built}")
            # one self-contained file (no -wal beside it) to copy
            template = tmp / "template.db"
            with sqlite3.connect(built) as conn:
                conn.execute("VACUUM INTO ?", (str(template),))
            conn.close()
            _sqlite_template = template
        return _sqlite_template


def _migrate_sqlite_copy(path: Path) -> None:
    template = _build_sqlite_template()
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)


def migrate(url: str) -> None:
    """The schema at ``heads`` in the database at ``url``. A SQLite file that does not
    exist yet becomes a copy of the migrated template; anything else (an existing
    file, a server database) is migrated by Alembic. PostgreSQL:
    ``fresh_database(template=migrated_template())`` (tests/support/postgres.py)."""
    path = _sqlite_path(url)
    if path is not None and not path.exists():
        _migrate_sqlite_copy(path)
        return
    upgrade(url)


async def migrate_async(url: str) -> None:
    await asyncio.to_thread(migrate, url)


async def sqlite_template() -> Path:
    """The session's migrated SQLite template (built on first use): for tests that copy
    it themselves or compare a model against the migrated schema."""
    return await asyncio.to_thread(_build_sqlite_template)
