from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def async_url(url: str) -> str:
    """``sqlite:///x.db`` -> ``sqlite+aiosqlite:///x.db``; ``postgresql://`` -> psycopg (async)."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def sync_url(url: str) -> str:
    """The same database for Alembic, with a synchronous driver."""
    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        u = u.set(drivername="sqlite")
    elif u.drivername.startswith("postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # busy_timeout first: switching to WAL takes a lock, and a connection made while
    # another holds it would otherwise fail at once with "database is locked"
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


#: this process's write generation: one more on every statement that is not a read,
#: and again when a connection that wrote commits (see :func:`write_generation`)
_GENERATION = [0]
_READS = ("SELECT", "PRAGMA", "SHOW", "EXPLAI", "WITH R")  # first 6 chars, upper case


def write_generation() -> int:
    """A number that changes whenever this process writes to any database through a
    :class:`Database` (a statement other than a read, and that connection's commit).
    A cache of answers read from the database keeps the generation it read *before*
    computing and is fresh while it is unchanged; the commit's bump covers a reader that
    began before the writer committed. Writes by other processes are not seen: such
    caches are also bounded in time."""
    return _GENERATION[0]


def note_write() -> None:
    """For a statement that writes without going through the engine (a driver
    connection of its own): :func:`write_generation` changes as for any write."""
    _GENERATION[0] += 1


def _note_write(
    conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
) -> None:
    if statement.lstrip()[:6].upper() not in _READS:
        _GENERATION[0] += 1
        conn.info["dehong_wrote"] = True


def _note_commit(conn: Any) -> None:
    if conn.info.pop("dehong_wrote", False):
        _GENERATION[0] += 1


def _note_rollback(conn: Any) -> None:
    # an invalidated connection (dropped mid-transaction, a cancelled statement) has no
    # info to clear; reading it raises PendingRollbackError from inside the rollback,
    # which hid the error that caused it and left the rollback unfinished
    if not conn.invalidated:
        conn.info.pop("dehong_wrote", None)


class Database:
    """One engine and session factory per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        aurl = async_url(url)
        u = make_url(aurl)
        if u.drivername.startswith("sqlite") and u.database not in (None, "", ":memory:"):
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        sqlite = u.drivername.startswith("sqlite")
        # PostgreSQL: a connection dropped while pooled (server restart, idle timeout,
        # failover) is found by a ping at checkout and replaced, instead of failing the
        # next transaction, which a context manager cannot replay. One ping per
        # transaction: ingest runs one transaction per write of ~5,000 points, where it
        # measured below the noise (bench.ingest_profile). An SQLite file cannot drop
        # its connection: no ping (it would be one more trip to aiosqlite's thread).
        self.engine: AsyncEngine = create_async_engine(aurl, pool_pre_ping=not sqlite)
        if sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(self.engine.sync_engine, "after_cursor_execute", _note_write)
        event.listen(self.engine.sync_engine, "commit", _note_commit)
        event.listen(self.engine.sync_engine, "rollback", _note_rollback)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as s:
            yield s

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as s, s.begin():
            yield s

    async def dispose(self) -> None:
        await self.engine.dispose()
