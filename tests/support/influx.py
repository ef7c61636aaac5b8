"""The real InfluxDB the integration tests use (Debian's influxdb 1.6.x).

``scripts/services.sh`` (called by ``.ci/run``) starts it on 127.0.0.1:8086;
``DEHONG_TEST_INFLUX_URL`` points elsewhere. Each test gets its own database.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bench.servers import PrivateInflux as _BenchInflux
from bench.servers import ServerMissing
from tests.support.services import missing, port_open

if TYPE_CHECKING:
    from cloud.timeseries.influx import InfluxStore


def influx_url() -> str:
    url = os.environ.get("DEHONG_TEST_INFLUX_URL", "http://127.0.0.1:8086")
    parts = urlsplit(url)
    if not port_open(parts.hostname or "127.0.0.1", parts.port or 8086):
        missing(f"InfluxDB not reachable at {url}; run scripts/services.sh")
    return url


def unique_db() -> str:
    return "t_" + secrets.token_hex(6)


@asynccontextmanager
async def fresh_store(database: str | None = None) -> AsyncIterator[InfluxStore]:
    """An open InfluxStore on a fresh database of the shared server, dropped afterwards."""
    from cloud.timeseries.influx import InfluxStore
    from cloud.timeseries.lineprotocol import quote_ident

    store = InfluxStore(influx_url(), database=database or unique_db())
    await store.open()
    try:
        yield store
    finally:
        await store.query(f"DROP DATABASE {quote_ident(store.database)}", db=None)
        await store.close()


class PrivateInflux(_BenchInflux):
    """An influxd of our own on free ports, for tests that stop and restart it (never
    the shared server on 8086). A missing binary is a failure under CI, else a skip.

    ``auth_enabled``: ``[http] auth-enabled = true`` (through influxd's environment
    override of the rendered config); the first user is created without credentials,
    as InfluxDB 1.x allows."""

    def __init__(self, state: Path, *, auth_enabled: bool = False) -> None:
        super().__init__(state)
        self.auth_enabled = auth_enabled

    def start(self, timeout_s: float = 20.0) -> None:
        saved = os.environ.get(AUTH_ENV)
        os.environ[AUTH_ENV] = "true" if self.auth_enabled else "false"
        try:
            super().start(timeout_s)
        except ServerMissing as exc:
            missing(str(exc))
        finally:
            if saved is None:
                os.environ.pop(AUTH_ENV, None)
            else:
                os.environ[AUTH_ENV] = saved


AUTH_ENV = "INFLUXDB_HTTP_AUTH_ENABLED"
