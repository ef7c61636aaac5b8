"""Two ingest workers (real processes: ``dehong cloud ingest``) on MQTT shared
subscriptions of a private Mosquitto, PostgreSQL and InfluxDB: the load is split
between them, and when one is killed (SIGKILL) mid-load nothing is lost."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.fleet import wait_all_acked
from cloud.db import Database
from cloud.provisioning.service import ensure_service_account
from cloud.settings import Settings
from cloud.timeseries.influx import InfluxStore
from tests.support.fleet import provision, running_fleet
from tests.support.mosquitto import MosquittoBroker
from tests.support.services import free_port

GATEWAYS = 8
READINGS = 60


def _spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dehong.cli", "cloud", "ingest"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _messages_in(port: int) -> int:
    async with httpx.AsyncClient(timeout=5) as c:
        r = await c.get(f"http://127.0.0.1:{port}/metrics")
    r.raise_for_status()
    m = re.search(r'^dehong_ingest_messages_total\{channel="data"\} (\S+)$', r.text, re.M)
    return int(float(m.group(1))) if m else 0


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def _metrics_up(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, _tail(log)
        try:
            await _messages_in(port)
            serving = True
        except httpx.HTTPError:
            serving = False  # not listening yet
        if serving and "ingest connected" in _tail(log):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"worker not up: {_tail(log)}")


@pytest.mark.influx
@pytest.mark.mosquitto
@pytest.mark.postgres
async def test_two_workers_split_load_and_survive_a_kill(
    tmp_path: Path,
    mosquitto_broker: MosquittoBroker,
    pg_migrated_url: str,
    influx_store: InfluxStore,
) -> None:
    broker = mosquitto_broker
    db = Database(pg_migrated_url)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        accounts, ingest = await provision(db, broker, GATEWAYS)
        # One broker account per worker: the broker takes the client id from the username.
        second_pw = await ensure_service_account(
            db,
            "cloud-ingest-2",
            "ingest",
            settings=Settings(demo=True, mosquitto_dir=broker.dir, mosquitto_reload="watch"),
        )
        broker.reload()
        accounts_of_workers = [("cloud-ingest", ingest.password), ("cloud-ingest-2", second_pw)]
        ports = [free_port(), free_port()]
        logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
        for port, log, (user, pw) in zip(ports, logs, accounts_of_workers, strict=True):
            env = {
                **os.environ,
                "DEHONG_DATABASE_URL": pg_migrated_url,
                "DEHONG_INFLUX_URL": influx_store.url,
                "DEHONG_INFLUX_DB": influx_store.database,
                "DEHONG_MQTT_URL": f"mqtt://{user}:{pw}@{broker.host}:{broker.port}",
                "DEHONG_MQTT_SHARED": "true",
                "DEHONG_INGEST_METRICS_PORT": str(port),
                # A killed worker's persistent session keeps getting its share of the
                # group's messages until it expires (120 s by default); they come back
                # only through the gateways' resends, each again 50/50. A 2 s expiry
                # keeps that path (what reached the dead session is resent) without
                # waiting out rounds of coin flips.
                "DEHONG_INGEST_SESSION_EXPIRY_S": "2",
            }
            procs.append(_spawn(env, log))
        for port, proc, log in zip(ports, procs, logs, strict=True):
            await _metrics_up(port, proc, log)

        t0 = int(time.time() * 1000) - 3_600_000
        async with running_fleet(accounts, broker, ack_timeout_s=1.0) as (gws, stats):
            k = 0
            for _ in range(5):  # both workers alive
                for g in gws:
                    await g.publish_batch(t0 + k * 60_000)
                k += 1
                await asyncio.sleep(0.2)
            assert await wait_all_acked(gws, 30)
            a, b = await _messages_in(ports[0]), await _messages_in(ports[1])
            assert a > 0 and b > 0, (a, b)  # the load is split
            assert a + b >= GATEWAYS * k

            # kill worker A mid-load: batches keep coming, some are in its hands
            for round_ in range(10):
                for g in gws:
                    await g.publish_batch(t0 + k * 60_000)
                k += 1
                if round_ == 3:
                    procs[0].send_signal(signal.SIGKILL)
                    procs[0].wait(5)
                await asyncio.sleep(0.1)
            assert await wait_all_acked(gws, 60), [g.unacked for g in gws]

        for g in gws:
            assert await influx_store.count("cold_room", f"{g.account.id}.room-0") == k * READINGS
        assert stats.acked == GATEWAYS * k
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        await db.dispose()
