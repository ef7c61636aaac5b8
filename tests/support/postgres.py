"""A fresh PostgreSQL database per test on the CI server (trust auth).

Migrations take about a second per database: :func:`migrated_template` runs them
once per test process, and ``fresh_database(template=migrated_template())`` copies
the result (``CREATE DATABASE ... TEMPLATE``). Creating and dropping a database
still take the server half a second to a second each (it copies or removes and
syncs the files); the tests do not wait for either: the next copy of a template
is made on a background thread while the test before runs, and a drop is queued
to another background thread. The end of the process waits for both.
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
BASE_URL = ADMIN_URL.rsplit("/", 1)[0]

log = logging.getLogger(__name__)


def _admin_connect():  # type: ignore[no-untyped-def]
    import psycopg

    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        missing(f"PostgreSQL not reachable at {ADMIN_URL}: {exc}".strip())
        raise  # not reached: missing() fails or skips


def _create(template: str | None = None) -> str:
    name = f"dehong_t_{secrets.token_hex(6)}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"{clause}')
    return name


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
            except BaseException:  # the server went away: say which database is left
                log.exception("could not drop test database %s", name)

    def drain(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join()


class _Spare:
    """One copy of a template made ahead, on a background thread."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._next: tuple[str, Future[str]] | None = None
        self._lock = threading.Lock()

    def take(self, template: str) -> str:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="pg-spare")
            ahead, self._next = self._next, None
            name = None
            if ahead is not None:
                try:
                    made = ahead[1].result()
                except Exception:  # made again below, where the error is the test's
                    log.exception("could not make a spare test database")
                else:
                    if ahead[0] == template:
                        name = made
                    else:
                        _dropper.drop_later(made)
            if name is None:
                name = _create(template)
            self._next = (template, self._pool.submit(_create, template))
            return name

    def close(self) -> None:
        with self._lock:
            ahead, self._next = self._next, None
            if ahead is not None:
                try:
                    _drop(ahead[1].result())
                except Exception:
                    log.exception("could not make or drop the spare test database")
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None


_dropper = _Dropper()
_spare = _Spare()
_template_lock = threading.Lock()
_MIGRATED: list[str] = []


def _at_exit() -> None:
    _spare.close()
    for name in _MIGRATED:
        _drop(name)
    _dropper.drain()


atexit.register(_at_exit)


@contextmanager
def fresh_database(template: str | None = None) -> Iterator[str]:
    """Create ``dehong_t_<random>`` (a copy of database ``template`` if given), yield
    its URL, drop it afterwards (on a background thread)."""
    name = _spare.take(template) if template else _create()
    try:
        yield f"{BASE_URL}/{name}"
    finally:
        _dropper.drop_later(name)


def migrated_template() -> str:
    """A database migrated to every head, made once per test process (dropped at its
    exit) with the real migrations: ``fresh_database(template=...)`` copies it in a
    fraction of the time the migrations take."""
    with _template_lock:
        if not _MIGRATED:
            from cloud.db.migrate import upgrade

            name = f"dehong_tpl_{os.getpid()}_{secrets.token_hex(4)}"
            with _admin_connect() as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                upgrade(f"{BASE_URL}/{name}")
            except BaseException:
                _drop(name)
                raise
            _MIGRATED.append(name)
        return _MIGRATED[0]
