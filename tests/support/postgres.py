"""A fresh PostgreSQL database per test on the CI server (trust auth).

Creating and dropping a database each take the server half a second to a second
(it copies or removes and syncs the files); the tests do not wait for either: a
copy of the migrated template is made on a background thread while the test
before runs, and a drop is queued to another background thread. The end of the
session waits for both.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from tests.support.services import missing

#: The maintenance database the tests connect to for CREATE/DROP DATABASE.
ADMIN_URL = os.environ.get("DEHONG_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


log = logging.getLogger(__name__)


def _admin_connect():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)


def _drop(name: str) -> None:
    with _admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _Dropper:
    """Drops databases on a background thread; :meth:`drain` waits until all are gone."""

    def __init__(self) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def drop_later(self, name: str) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pg-drop", daemon=True)
                self._thread.start()
            self._queue.put(name)

    def _run(self) -> None:
        while (name := self._queue.get()) is not None:
            try:
                _drop(name)
            except Exception:  # the server went away: say which database is left
                log.exception("could not drop test database %s", name)

    def drain(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join()


_dropper = _Dropper()
atexit.register(_dropper.drain)


def _create(template: str = "") -> str:
    name = f"dehong_t_{secrets.token_hex(6)}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"{clause}')
    return name


class _Spare:
    """One copy of the migrated template made ahead, on a background thread."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._next: Future[str] | None = None
        self._lock = threading.Lock()

    def take(self, template: str) -> str:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="pg-spare")
                atexit.register(self.close)
            ahead, self._next = self._next, None
            name = None
            if ahead is not None:
                try:
                    name = ahead.result()
                except Exception:  # made again below, where the error is the test's
                    log.exception("could not make a spare test database")
            if name is None:
                name = _create(template)
            self._next = self._pool.submit(_create, template)
            return name

    def close(self) -> None:
        with self._lock:
            ahead, self._next = self._next, None
            if ahead is not None:
                try:
                    _drop(ahead.result())
                except Exception:
                    log.exception("could not make or drop the spare test database")
            if self._pool is not None:
                self._pool.shutdown()


_spare = _Spare()


@contextmanager
def fresh_database(*, migrated: bool = False) -> Iterator[str]:
    """Create ``dehong_t_<random>``, yield its URL, drop it afterwards.

    ``migrated``: a copy of the session's migrated template (the schema at Alembic's
    heads, see tests/support/schema.py) instead of an empty database."""
    import psycopg

    try:
        conn = _admin_connect()
    except psycopg.OperationalError as exc:
        missing(f"PostgreSQL not reachable at {ADMIN_URL}: {exc}".strip())
        raise  # not reached: missing() fails or skips
    conn.close()
    if migrated:
        from tests.support.schema import pg_template

        name = _spare.take(pg_template(ADMIN_URL, _admin_connect))
    else:
        name = _create()
    base = ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        _dropper.drop_later(name)
