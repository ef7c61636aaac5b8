"""End to end: simulator -> gateway -> broker -> ingest -> time series -> write-ack -> API.

Twice: on the real servers (a private Mosquitto with our config and generated
per-gateway passwd/ACL, InfluxDB, PostgreSQL) and on the embedded defaults
(amqtt enforcing the same files, SQLite, the SQLite time-series store).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.auth.principal import Role
from cloud.auth.service import create_user
from cloud.db import Database
from cloud.provisioning.service import ensure_service_account, provision_gateway
from cloud.settings import Settings
from cloud.timeseries import TimeSeriesStore
from dehong.stack import CloudServices, gateway_config
from edge.gateway import Gateway
from protocol.broker import BrokerUrl
from simulators.coldstore import ColdStoreSimulator, default_rooms
from tests.support import influx
from tests.support.schema import migrate_async
from tests.support.services import free_port

ADMIN = ("e2e-admin", "e2e-admin-password")


@dataclass
class Backend:
    settings: Settings
    db: Database
    tsdb: TimeSeriesStore
    host: str
    port: int


@pytest.fixture(params=["real", "embedded"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "real":
            from tests.support.mosquitto import start_broker
            from tests.support.postgres import fresh_database, migrated_template

            broker = start_broker(tmp_path / "broker")
            stack.callback(broker.stop)
            db_url = stack.enter_context(fresh_database(template=migrated_template()))
            tsdb: TimeSeriesStore = await stack.enter_async_context(influx.fresh_store())
            settings = Settings(
                database_url=db_url,
                influx_url=tsdb.url,
                influx_db=tsdb.database,
                mosquitto_dir=broker.dir,
                mosquitto_pid_file=broker.pid_file,
                demo=True,
            )
            host, port = broker.host, broker.port
        else:
            from cloud.timeseries.sqlite import SqliteStore
            from dehong.embedded_broker import start_broker as start_amqtt

            settings = Settings(
                database_url=f"sqlite:///{tmp_path / 'dehong.db'}",
                tsdb_path=tmp_path / "ts.db",
                mosquitto_dir=tmp_path / "mosquitto",
                demo=True,
            )
            tsdb = SqliteStore(settings.tsdb_path)
            await tsdb.open()
            stack.push_async_callback(tsdb.close)
            host, port = "127.0.0.1", free_port()
        if request.param == "embedded":  # PostgreSQL: a copy of the migrated template
            await migrate_async(settings.database_url)
        db = Database(settings.database_url)
        stack.push_async_callback(db.dispose)
        if request.param == "embedded":
            settings.mosquitto_dir.mkdir(parents=True, exist_ok=True)
            amqtt = await start_amqtt(host, port, settings.mosquitto_dir)
            stack.push_async_callback(amqtt.shutdown)
        async with db.transaction() as s:
            await create_user(
                s, username=ADMIN[0], password=ADMIN[1], role=Role.PREFECTURE_ADMIN,
                county="533100", actor="test",
            )  # fmt: skip
        yield Backend(settings, db, tsdb, host, port)


async def wait_for(predicate: Any, within_s: float, what: str) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(0.2)


async def test_simulator_to_api(backend: Backend, tmp_path: Path) -> None:
    b = backend
    ingest_pw = await ensure_service_account(b.db, "ingest", "ingest", settings=b.settings)
    assert ingest_pw
    _gw, gw_pw = await provision_gateway(
        b.db, "533103", "E2E coffee coop", "e2e-site", "e2e-coop-01", settings=b.settings
    )
    sim = ColdStoreSimulator(default_rooms(2), seed=11)
    await sim.start("127.0.0.1", 0)
    cloud = CloudServices(b.settings, b.db, b.tsdb, BrokerUrl(b.host, b.port, "ingest", ingest_pw))
    await cloud.start()
    cfg = gateway_config(
        gateway_id="e2e-coop-01", county="533103", site="e2e-site",
        broker=BrokerUrl(b.host, b.port), password=gw_pw, modbus_port=sim.port, rooms=2,
        state_dir=tmp_path / "edge", poll_s=0.2, batch_s=0.5, ack_timeout_s=5.0,
    )  # fmt: skip
    gateway = Gateway(cfg)
    gw_task = asyncio.create_task(gateway.run())
    try:
        async with httpx.AsyncClient(base_url=cloud.api_url, timeout=10) as http:
            r = await http.post(
                "/api/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]}
            )
            assert r.status_code == 200, r.text
            http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

            async def latest() -> dict[str, Any] | None:
                resp = await http.get("/api/v1/devices/e2e-coop-01.room-0/latest")
                if resp.status_code != 200:
                    return None
                values = {v["metric"]: v for v in resp.json()["values"]}
                return values if "temperature" in values else None

            started = time.monotonic()
            values = await wait_for(latest, 10, "the API to serve room-0's temperature")
            first_seen_s = time.monotonic() - started
            assert first_seen_s < 10
            truth = sim.room_state(0)
            # the reading is at most a batch old; the room drifts slowly
            assert abs(values["temperature"]["value"] - truth.temperature) < 1.0
            assert values["humidity"]["value"] == pytest.approx(truth.humidity, abs=5.0)

            gws = (await http.get("/api/v1/gateways")).json()
            (mine,) = [g for g in gws if g["id"] == "e2e-coop-01"]
            assert mine["online"] is True and mine["county"] == "533103"

            now = time.time()
            series = await http.get(
                "/api/v1/devices/e2e-coop-01.room-1/series",
                params={
                    "metric": "temperature",
                    "start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 600)),
                    "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 60)),
                    "every": "1m",
                },
            )
            assert series.status_code == 200, series.text
            assert sum(bk["count"] for bk in series.json()["buckets"]) > 0

            # the in-process worker's counters are on the API's /metrics
            text = (await http.get("/metrics")).text
            written = [
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("dehong_ingest_points_written_total")
            ]
            assert written and sum(written) > 0, text[-2000:]

        async def drained() -> bool:
            return gateway.pending_count == 0 and gateway.stats.acked >= 2

        await wait_for(drained, 10, "the gateway's pending count to return to zero")
        stored = await b.tsdb.count("cold_room", "e2e-coop-01.room-0")
        assert stored > 0
        assert cloud.worker.ingest.metrics.rejects == {}
    finally:
        await gateway.stop()
        gw_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gw_task
        await cloud.stop()
        await sim.stop()
    assert gateway.pending_count == 0
