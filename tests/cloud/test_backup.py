"""``dehong backup`` / ``dehong restore`` round trips against the real servers: a fresh
PostgreSQL database and a private influxd on free HTTP and RPC ports (never the shared
one on 8086), to a directory and to an S3 bucket (moto's server on loopback). Write
data, back up, wipe, restore into a fresh stack, find every reading and record again.
A corrupted backup is refused, naming the file, before anything is changed."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bench.servers import free_port, port_open
from cloud.db import Database
from cloud.devices.storage import Device, Gateway
from cloud.provisioning import backup as bk
from cloud.provisioning.backup_targets import (
    MANIFEST,
    BackupError,
    DirectoryTarget,
    S3Target,
    Target,
)
from cloud.provisioning.service import provision_gateway
from cloud.settings import Settings
from cloud.timeseries import Point, TimeSeriesStore
from cloud.timeseries.influx import InfluxStore
from cloud.timeseries.rollup import RollupJob, mark
from cloud.timeseries.sqlite import SqliteStore
from cloud.timeseries.windows import HOUR_MS
from tests.support.influx import PrivateInflux
from tests.support.postgres import fresh_database, migrated_template
from tests.support.schema import migrate_async

COUNTY = "533103"
DEVICES = ("coop-a.room-1", "coop-a.room-2")


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """moto's S3 server on a free loopback port, with throwaway credentials."""
    port = free_port()
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    with (tmp_path / "moto.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not port_open(port):
            assert proc.poll() is None, (tmp_path / "moto.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "moto server did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dehong.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _settings(tmp: Path, db_url: str, influx: PrivateInflux | None, jwt: str) -> Settings:
    return Settings(
        database_url=db_url,
        influx_url=influx.url if influx else "",
        influx_db="dehong",
        influx_rpc=f"127.0.0.1:{influx.rpc_port}" if influx else "127.0.0.1:8088",
        tsdb_path=tmp / "ts.db",
        mosquitto_dir=tmp / "mosquitto",
        mosquitto_pid_file=None,
        keys_dir=tmp / "keys",
        jwt_secret=jwt,
    )


def _store(settings: Settings) -> TimeSeriesStore:
    if settings.influx_url:
        return InfluxStore(settings.influx_url, database=settings.influx_db)
    return SqliteStore(settings.tsdb_path)


async def _write_stack(settings: Settings) -> dict[str, object]:
    """Records, broker files, a key file and readings with their roll-ups."""
    await migrate_async(settings.database_url)
    db = Database(settings.database_url)
    now = int(time.time() * 1000) // 1000 * 1000
    points = [
        Point("cold_room", d, COUNTY, "coop-a", now - 2 * HOUR_MS + i * 5000, {"temp_c": t})
        for d in DEVICES
        for i, t in enumerate(round(3 + (i * 7 % 50) / 10, 1) for i in range(1200))
    ]
    tsdb = _store(settings)
    try:
        await provision_gateway(db, COUNTY, "Coop A", "coop-a", "coop-a", settings=settings)
        async with db.transaction() as s:
            for d in DEVICES:
                s.add(
                    Device(
                        id=d,
                        county=COUNTY,
                        kind="cold_room",
                        site="coop-a",
                        gateway_id="coop-a",
                        metrics=["temp_c"],
                    )
                )
        await tsdb.open()
        await tsdb.write(points)
        await mark(db, points)
        assert await RollupJob(db, tsdb).run_until_idle() >= 2 * len(DEVICES)
        rollups = await tsdb.aggregate(
            "cold_room", list(DEVICES), "temp_c", now - 3 * HOUR_MS, now, HOUR_MS, "1h"
        )
    finally:
        await tsdb.close()
        await db.dispose()
    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    (settings.keys_dir / "firmware-signing.key").write_bytes(secrets.token_bytes(64))
    return {
        "points": points,
        "rollups": rollups,
        "passwd": (settings.mosquitto_dir / "passwd").read_bytes(),
        "acl": (settings.mosquitto_dir / "acl").read_bytes(),
        "key": (settings.keys_dir / "firmware-signing.key").read_bytes(),
        "start": now - 3 * HOUR_MS,
        "end": now + 1,
    }


async def _check_stack(settings: Settings, before: dict[str, object]) -> None:
    """Every reading, roll-up, record, broker file and key of ``before`` is back."""
    db = Database(settings.database_url)
    tsdb = _store(settings)
    await tsdb.open()
    try:
        async with db.session() as s:
            gateways = [g.id for g in (await s.execute(select(Gateway))).scalars()]
            devices = sorted(d.id for d in (await s.execute(select(Device))).scalars())
        assert gateways == ["coop-a"] and devices == sorted(DEVICES)
        points = before["points"]
        assert isinstance(points, list)
        for d in DEVICES:
            got = await tsdb.raw_rows("cold_room", d, int(before["start"]), int(before["end"]))  # type: ignore[call-overload]
            want = [(p.ts_ms, p.fields) for p in points if p.device == d]
            assert got == want, f"{d}: {len(got)} readings back of {len(want)}"
        # the roll-ups: restored, and recomputed from the raw points to the same values
        await RollupJob(db, tsdb).run_until_idle()
        rollups = await tsdb.aggregate(
            "cold_room",
            list(DEVICES),
            "temp_c",
            int(before["start"]),  # type: ignore[call-overload]
            int(before["end"]),  # type: ignore[call-overload]
            HOUR_MS,
            "1h",
        )
        assert rollups == before["rollups"]
    finally:
        await tsdb.close()
        await db.dispose()
    assert (settings.mosquitto_dir / "passwd").read_bytes() == before["passwd"]
    assert (settings.mosquitto_dir / "acl").read_bytes() == before["acl"]
    assert (settings.keys_dir / "firmware-signing.key").read_bytes() == before["key"]
    assert (settings.keys_dir / "jwt_secret").read_text().strip() == (
        settings.jwt_secret.get_secret_value()
    )


@pytest.mark.influx
@pytest.mark.parametrize("where", ["directory", "s3"])
async def test_round_trip_postgres_influxdb(
    where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    target: Target
    if where == "s3":
        import boto3

        endpoint = request.getfixturevalue("s3_endpoint")
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="dehong-backups")
        target = S3Target("dehong-backups", "county-pilot", endpoint)
    else:
        target = DirectoryTarget(tmp_path / "backups")
    jwt = secrets.token_urlsafe(48)
    with fresh_database(template=migrated_template()) as first_url:
        influx = PrivateInflux(tmp_path / "influx-1")
        influx.start()
        try:
            live = _settings(tmp_path / "live", first_url, influx, jwt)
            before = await _write_stack(live)
            result = bk.backup(live, target)
        finally:
            influx.stop()
    # the first stack is gone (database dropped, influxd's files deleted): a fresh one
    shutil.rmtree(tmp_path / "influx-1")
    shutil.rmtree(tmp_path / "live")
    assert target.names() == [result.name]
    with fresh_database() as fresh_url:
        influx = PrivateInflux(tmp_path / "influx-2")
        influx.start()
        try:
            fresh = _settings(tmp_path / "fresh", fresh_url, influx, jwt)
            manifest = await bk.restore(fresh, target)
            assert manifest["name"] == result.name
            assert manifest["sources"] == {"relational": "postgresql", "timeseries": "influxdb"}
            paths = {f["path"] for f in manifest["files"]}
            assert {"postgres.dump", "broker/passwd", "broker/acl", "keys/jwt_secret"} <= paths
            assert any(p.startswith("influxdb/") for p in paths)
            await _check_stack(fresh, before)
        finally:
            influx.stop()
    # retention that keeps nothing deletes it (the manifest first)
    assert bk.prune(target, daily=0, weekly=0, monthly=0) == [result.name]
    assert target.names() == []


async def test_corrupted_backup_is_refused_naming_the_file(tmp_path: Path) -> None:
    """The embedded stack (SQLite relational and time series) through the same code;
    one flipped byte in one file: restore names it and leaves the fresh stack alone."""
    jwt = secrets.token_urlsafe(48)
    live = _settings(tmp_path / "live", f"sqlite:///{tmp_path / 'live' / 'rel.db'}", None, jwt)
    before = await _write_stack(live)
    target = DirectoryTarget(tmp_path / "backups")
    first = bk.backup(live, target, now=datetime.now(UTC) - timedelta(days=2))
    # the second through the command line, as cron or a systemd timer runs it
    env = {
        **os.environ,
        "DEHONG_DATABASE_URL": live.database_url,
        "DEHONG_INFLUX_URL": "",
        "DEHONG_TSDB_PATH": str(live.tsdb_path),
        "DEHONG_MOSQUITTO_DIR": str(live.mosquitto_dir),
        "DEHONG_KEYS_DIR": str(live.keys_dir),
        "DEHONG_JWT_SECRET": jwt,
    }
    out = await asyncio.to_thread(_cli, ["backup", "--to", str(target.root), "--prune"], env)
    assert out.returncode == 0, out.stderr[-2000:]
    second = json.loads(out.stdout.strip().splitlines()[-1])
    assert second["pruned"] == [] and second["files"] >= 6
    assert target.names() == [first.name, second["backup"]]
    second = bk.BackupResult(second["backup"], str(target.root), 0, 0, [])
    manifest = json.loads((tmp_path / "backups" / second.name / MANIFEST).read_text())
    assert {f["path"] for f in manifest["files"]} >= {"relational.sqlite", "timeseries.sqlite"}
    for f in manifest["files"]:
        assert len(f["sha256"]) == 64 and f["size"] > 0
    assert manifest["versions"]["dehong"] and manifest["finished"] >= manifest["started"]

    victim = tmp_path / "backups" / second.name / "timeseries.sqlite"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    fresh = _settings(tmp_path / "fresh", f"sqlite:///{tmp_path / 'fresh' / 'rel.db'}", None, jwt)
    out = await asyncio.to_thread(
        _cli,
        ["restore", "--from", str(target.root)],
        {
            **env,
            "DEHONG_DATABASE_URL": fresh.database_url,
            "DEHONG_TSDB_PATH": str(fresh.tsdb_path),
            "DEHONG_MOSQUITTO_DIR": str(fresh.mosquitto_dir),
            "DEHONG_KEYS_DIR": str(fresh.keys_dir),
        },
    )
    assert out.returncode == 1
    assert "timeseries.sqlite: checksum mismatch" in out.stderr  # the newest: corrupted
    with pytest.raises(BackupError, match=r"timeseries\.sqlite: checksum mismatch"):
        await bk.restore(fresh, target)
    assert not (tmp_path / "fresh").exists()  # nothing was touched
    (tmp_path / "backups" / second.name / "broker" / "acl").unlink()
    with pytest.raises(BackupError, match=r"broker/acl: missing"):
        bk.verify(tmp_path / "backups" / second.name)

    # the older, intact backup restores everything
    manifest = await bk.restore(fresh, target, first.name)
    assert manifest["hours_marked"] >= len(DEVICES)
    await _check_stack(fresh, before)


async def test_restore_remarks_every_countys_series_of_a_device(tmp_path: Path) -> None:
    """Roll-ups are per (device, county). A tag now Longchuan's was heard in Mangshi
    during the backup; the backup caught its raw points but neither the Mangshi
    roll-up nor its mark. Restore marks the hours under every county, so the job
    recomputes the Mangshi series too."""
    settings = _settings(tmp_path, f"sqlite:///{tmp_path / 'rel.db'}", None, "x" * 48)
    await migrate_async(settings.database_url)
    db = Database(settings.database_url)
    tsdb = SqliteStore(settings.tsdb_path)
    await tsdb.open()
    tag, other = "AA:00:00:00:00:0C", "533124"
    now = int(time.time() * 1000)
    hour = now // HOUR_MS * HOUR_MS - HOUR_MS
    try:
        async with db.transaction() as s:
            s.add(Device(id=tag, county=other, kind="cold_room", site="s", gateway_id="gw-l1"))
        await tsdb.write(
            [
                Point("cold_room", tag, county, "s", hour + i * 60_000, {"temp_c": v})
                for county, v in ((COUNTY, 4.0), (other, 9.0))
                for i in range(30)
            ]
        )
        started = datetime.fromtimestamp((hour + HOUR_MS + 60_000) / 1000, UTC)
        manifest = {"started": started.isoformat(), "finished": started.isoformat()}
        assert await bk.remark_rollups(settings, manifest) >= 2
        await RollupJob(db, tsdb).run_until_idle()
        for county, v in ((COUNTY, 4.0), (other, 9.0)):
            got = await tsdb.aggregate(
                "cold_room", [tag], "temp_c", hour, hour + HOUR_MS, HOUR_MS, "1h", counties=[county]
            )
            assert [(b.count, b.mean) for b in got[tag]] == [(30, v)], county
    finally:
        await tsdb.close()
        await db.dispose()


def test_retention_keeps_daily_weekly_monthly() -> None:
    start = datetime(2026, 1, 1, 18, 0, tzinfo=UTC)  # 02:00 Beijing, daily for 400 days
    names = [f"dehong-{start + timedelta(days=i):%Y%m%dT%H%M%SZ}" for i in range(400)]
    names += [f"dehong-{start + timedelta(days=399, hours=1):%Y%m%dT%H%M%SZ}"]  # same day
    keep = bk.to_keep(names)
    newest = sorted(names)[-8:]
    assert newest[-1] in keep and newest[-2] not in keep  # one per day: the newest
    assert set(newest[-7:]) - {newest[-2]} <= keep
    # 7 days + up to 4 weeks + 12 months, overlapping: never more than 23
    assert 12 < len(keep) <= 23
    months = {datetime.strptime(n, "dehong-%Y%m%dT%H%M%SZ").strftime("%Y-%m") for n in keep}
    assert len(months) >= 12


def test_prune_deletes_what_retention_does_not_keep(tmp_path: Path) -> None:
    target = DirectoryTarget(tmp_path / "backups")
    start = datetime(2026, 1, 1, 18, 0, tzinfo=UTC)
    names = [f"dehong-{start + timedelta(days=i):%Y%m%dT%H%M%SZ}" for i in range(40)]
    for name in names:
        (target.root / name).mkdir(parents=True)
        (target.root / name / MANIFEST).write_text("{}")
    (target.root / ".partial-dehong-20270101T000000Z").mkdir()  # an interrupted backup
    gone = bk.prune(target)
    assert set(gone) == set(names) - bk.to_keep(names)
    assert target.names() == sorted(bk.to_keep(names))
    assert names[-7:] == target.names()[-7:]
