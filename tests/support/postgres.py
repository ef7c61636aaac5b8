"""A fresh PostgreSQL database per test on the CI server (trust auth).

Dropping a database takes the server half a second to a second (it removes and
syncs the files); the test does not wait for it: the drop is queued to one
background thread, which the end of the session waits for.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import secrets
import threading
from collections.abc import Iterator
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
                atexit.register(self.drain)
        self._queue.put(name)

    def _run(self) -> None:
        while (name := self._queue.get()) is not None:
            try:
                _drop(name)
            except Exception:  # the server went away: say which database is left
                log.exception("could not drop test database %s", name)

    def drain(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()


_dropper = _Dropper()


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
    name = f"dehong_t_{secrets.token_hex(6)}"
    template = ""
    if migrated:
        from tests.support.schema import pg_template

        template = f' TEMPLATE "{pg_template(ADMIN_URL, _admin_connect)}"'
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"{template}')
    base = ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        _dropper.drop_later(name)
