"""``dehong logistics tracker add`` and ``dehong logistics osmand-serve`` as processes:
a tracker made on the command line, a fix sent over HTTP to the OsmAnd port, stored."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from cloud.catalog.storage import MobileDevice, Organisation
from cloud.db import Database, utcnow
from cloud.logistics.positions.read import positions_of
from cloud.timeseries.sqlite import SqliteStore
from tests.support.schema import migrate_async
from tests.support.services import free_port


async def test_tracker_add_then_a_fix_on_the_osmand_port(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    db = Database(url)
    async with db.transaction() as s:
        org = Organisation(kind="carrier", name="盈江运输", uscc="Z533123000000003", county="533123",
                           created_at=utcnow(), created_by="t")  # fmt: skip
        s.add(org)
        await s.flush()
        s.add(MobileDevice(device_id="truck-yj-1", kind="vehicle", org_id=org.id, county="533123",
                           registered_at=utcnow(), registered_by="t"))  # fmt: skip
    await db.dispose()
    port = free_port()
    env = {**os.environ, "DEHONG_DATABASE_URL": url, "DEHONG_TSDB_PATH": str(tmp_path / "ts.db"),
           "DEHONG_INFLUX_URL": "", "DEHONG_POSITIONS_PUBLIC_URL": f"http://127.0.0.1:{port}/"}  # fmt: skip
    qr = tmp_path / "qr.svg"
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "dehong.cli", "logistics", "tracker", "add", "truck-yj-1",
         "--speed-unit", "kn", "--qr", str(qr)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    device_id = re.search(r"device id \(shown once; keep it secret\): (\S+)", out.stdout).group(1)  # type: ignore[union-attr]
    assert len(device_id) >= 20
    assert "<svg" in qr.read_text()
    assert f"url=http%3A%2F%2F127.0.0.1%3A{port}%2F&id={device_id}" in out.stdout
    log = (tmp_path / "osmand.log").open("wb")
    proc = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "dehong.cli", "logistics", "osmand-serve", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        now = int(time.time())
        async with httpx.AsyncClient(timeout=5) as c:
            deadline = time.monotonic() + 30
            while True:
                try:
                    r = await c.get(
                        f"http://127.0.0.1:{port}/",
                        params={"id": device_id, "lat": "24.71", "lon": "97.94",
                                "timestamp": str(now), "speed": "10"},
                    )  # fmt: skip
                    break
                except httpx.ConnectError:
                    assert proc.poll() is None and time.monotonic() < deadline, (
                        tmp_path / "osmand.log"
                    ).read_text()
                    await asyncio.sleep(0.2)
        assert (r.status_code, r.text) == (200, "")
    finally:
        proc.terminate()
        proc.wait(10)
    store = SqliteStore(tmp_path / "ts.db")
    await store.open()
    try:
        (fix,) = await positions_of(
            store, "truck-yj-1", now * 1000 - 1, now * 1000 + 1, counties=["533123"]
        )
        assert fix.speed_kmh == 18.52  # 10 knots: the tracker's unit
    finally:
        await store.close()


async def test_cloud_serve_serves_the_osmand_port_beside_the_api(tmp_path: Path) -> None:
    """``dehong cloud serve`` with ``DEHONG_POSITIONS_OSMAND_WITH_API``: the API and the
    OsmAnd port in one process, a fix on the port stored by the API's intake (its
    counts in the API's answer), both stopped together by one SIGTERM."""
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    db = Database(url)
    async with db.transaction() as s:
        org = Organisation(kind="carrier", name="陇川运输", uscc="Z533124000000004", county="533124",
                           created_at=utcnow(), created_by="t")  # fmt: skip
        s.add(org)
        await s.flush()
        s.add(MobileDevice(device_id="truck-lc-1", kind="vehicle", org_id=org.id, county="533124",
                           registered_at=utcnow(), registered_by="t"))  # fmt: skip
    await db.dispose()
    api_port, osmand_port = free_port(), free_port()
    env = {**os.environ, "DEHONG_DATABASE_URL": url, "DEHONG_TSDB_PATH": str(tmp_path / "ts.db"),
           "DEHONG_INFLUX_URL": "", "DEHONG_JWT_SECRET": "k" + os.urandom(24).hex(),
           "DEHONG_POSITIONS_OSMAND_WITH_API": "true",
           "DEHONG_POSITIONS_OSMAND_PORT": str(osmand_port)}  # fmt: skip
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "dehong.cli", "logistics", "tracker", "add", "truck-lc-1"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    device_id = re.search(r"device id \(shown once; keep it secret\): (\S+)", out.stdout).group(1)  # type: ignore[union-attr]
    log = (tmp_path / "serve.log").open("wb")
    proc = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "dehong.cli", "cloud", "serve", "--port", str(api_port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    now = int(time.time())
    try:
        async with httpx.AsyncClient(timeout=5) as c:
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = await c.get(f"http://127.0.0.1:{api_port}/healthz")
                    r = await c.get(
                        f"http://127.0.0.1:{osmand_port}/",
                        params={"id": device_id, "lat": "24.36", "lon": "97.95",
                                "timestamp": str(now), "speed": "5"},
                    )  # fmt: skip
                    break
                except httpx.ConnectError:
                    assert proc.poll() is None and time.monotonic() < deadline, (
                        tmp_path / "serve.log"
                    ).read_text()
                    await asyncio.sleep(0.2)
            assert health.status_code == 200
            assert (r.status_code, r.text) == (200, "")
            unknown = await c.get(
                f"http://127.0.0.1:{osmand_port}/", params={"id": "x" * 24, "lat": "1", "lon": "2"}
            )
            assert unknown.status_code == 400
    finally:
        proc.terminate()
        code = await asyncio.to_thread(proc.wait, 15)
    # uvicorn re-raises the SIGTERM it handled once shut down (as a lone `cloud serve`)
    served = (tmp_path / "serve.log").read_text()
    assert code in (0, -15) and "Application shutdown complete." in served, served
    assert served.count("Finished server process") == 2, served
    store = SqliteStore(tmp_path / "ts.db")
    await store.open()
    try:
        (fix,) = await positions_of(
            store, "truck-lc-1", now * 1000 - 1, now * 1000 + 1, counties=["533124"]
        )
        assert fix.speed_kmh == 18.0  # 5 m/s: the app's unit, the default
    finally:
        await store.close()
