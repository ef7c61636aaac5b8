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
        with _admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
