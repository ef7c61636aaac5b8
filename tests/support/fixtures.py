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
    from cloud.timeseries.influx import InfluxStore
    from cloud.timeseries.lineprotocol import quote_ident

    store = InfluxStore(influx_url, database=influx.unique_db())
    await store.open()
    try:
        yield store
    finally:
        await store.query(f"DROP DATABASE {quote_ident(store.database)}", db=None)
        await store.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[object]:
    from cloud.timeseries.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "ts.db")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(params=["sqlite", "influx"])
async def ts_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    """Both time-series implementations, so the contract is tested on each."""
    from cloud.timeseries.influx import InfluxStore
    from cloud.timeseries.lineprotocol import quote_ident
    from cloud.timeseries.sqlite import SqliteStore

    if request.param == "sqlite":
        store = SqliteStore(tmp_path / "ts.db")
    else:
        store = InfluxStore(influx.influx_url(), database=influx.unique_db())
    await store.open()
    try:
        yield store
    finally:
        if isinstance(store, InfluxStore):
            await store.query(f"DROP DATABASE {quote_ident(store.database)}", db=None)
        await store.close()


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
