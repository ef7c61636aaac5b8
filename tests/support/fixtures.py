"""pytest fixtures for the real servers (InfluxDB, PostgreSQL, Mosquitto)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import influx


@pytest.fixture
def influx_url() -> str:
    return influx.influx_url()


@pytest.fixture
async def influx_store(influx_url: str) -> AsyncIterator[object]:
    """An open InfluxStore on a fresh database, dropped afterwards."""
    async with influx.fresh_store() as store:
        yield store


@pytest.fixture(params=["sqlite", "influx"])
async def ts_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    """Both time-series implementations, so the contract is tested on each."""
    if request.param == "influx":
        async with influx.fresh_store() as store:
            yield store
        return
    from cloud.timeseries.sqlite import SqliteStore

    sqlite = SqliteStore(tmp_path / "ts.db")
    await sqlite.open()
    try:
        yield sqlite
    finally:
        await sqlite.close()


# --------------------------------------------------------- Mosquitto, PostgreSQL


@pytest.fixture
def mosquitto_broker(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A private Mosquitto (our config) on a free port; ``.dir`` is its mosquitto_dir."""
    from tests.support.mosquitto import start_broker

    broker = start_broker(tmp_path / "broker")
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def pg_url():  # type: ignore[no-untyped-def]
    """The URL of a fresh, empty PostgreSQL database, dropped after the test."""
    from tests.support.postgres import fresh_database

    with fresh_database() as url:
        yield url


@pytest.fixture
def pg_migrated_url():  # type: ignore[no-untyped-def]
    """The URL of a fresh PostgreSQL database with the schema at Alembic's heads (a copy
    of the session's migrated template: tests/support/schema.py), dropped afterwards."""
    from tests.support.postgres import fresh_database, migrated_template

    with fresh_database(template=migrated_template()) as url:
        yield url
