"""A fresh PostgreSQL database per test on the CI server (trust auth)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.services import missing

#: The maintenance database the tests connect to for CREATE/DROP DATABASE.
ADMIN_URL = os.environ.get("DEHONG_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _admin_connect():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)


@contextmanager
def fresh_database(template: str | None = None) -> Iterator[str]:
    """Create ``dehong_t_<random>`` (a copy of database ``template`` if given), yield
    its URL, drop it afterwards."""
    import psycopg

    try:
        conn = _admin_connect()
    except psycopg.OperationalError as exc:
        missing(f"PostgreSQL not reachable at {ADMIN_URL}: {exc}".strip())
        raise  # not reached: missing() fails or skips
    name = f"dehong_t_{secrets.token_hex(6)}"
    with conn:
        copy = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    base = ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_MIGRATED: list[str] = []


def migrated_template() -> str:
    """A database migrated to every head, made once per test process (and dropped at
    its exit): ``fresh_database(template=...)`` copies it in a fraction of the time
    the migrations take."""
    if _MIGRATED:
        return _MIGRATED[0]
    import atexit

    from cloud.db.migrate import upgrade

    try:
        conn = _admin_connect()
    except Exception as exc:
        missing(f"PostgreSQL not reachable at {ADMIN_URL}: {exc}".strip())
        raise
    name = f"dehong_tpl_{os.getpid()}_{secrets.token_hex(4)}"
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    upgrade(f"{base}/{name}")

    def drop() -> None:
        with _admin_connect() as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    atexit.register(drop)
    _MIGRATED.append(name)
    return name
