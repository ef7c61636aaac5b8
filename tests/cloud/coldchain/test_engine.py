"""The engine as a service: readings written -> excursions stored -> alarms; late and
out-of-order batches end where in-order ones do; gateway alarms join the lifecycle;
the lifecycle is audited. Relational store: SQLite and PostgreSQL; time series: the
embedded store, and InfluxDB for the out-of-order case."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.audit.storage import AuditEntry
from cloud.coldchain import alarms as lifecycle
from cloud.coldchain.clock import ManualClock
from cloud.coldchain.engine import Engine
from cloud.coldchain.storage import ColdchainAlarm, ColdchainExcursion
from cloud.db import Database, utcnow
from cloud.timeseries import TimeSeriesStore
from cloud.timeseries.sqlite import SqliteStore
from protocol.messages import EventMessage, EventType, Severity
from tests.cloud.coldchain.support import MIN, T0, block, make_place, minutes

DEV = "gw-m1.room-1"
ROOT = Path(__file__).resolve().parents[3]


def profile_day() -> tuple[list[int], list[float]]:
    """Six hours at 1 min: a door spike, two short excursions (flapping), a long one that
    passes the single limit, and noise."""
    rng = random.Random(7)
    vals = []
    for i in range(360):
        v = 5 + rng.uniform(-0.5, 0.5)
        if 30 <= i < 35 or 60 <= i < 66 or 100 <= i < 150:
            v = 10 + rng.uniform(0, 1)
        if i == 200:
            v = 9.5  # one reading: noise
        vals.append(round(v, 2))
    return minutes(vals)


async def state(db: Database) -> tuple[list[tuple], list[tuple]]:
    async with db.session() as s:
        exc = (
            await s.scalars(select(ColdchainExcursion).order_by(ColdchainExcursion.start_ms))
        ).all()
        alarms = (await s.scalars(select(ColdchainAlarm).order_by(ColdchainAlarm.first_ms))).all()
    return (
        [(e.start_ms, e.end_ms, e.duration_s, e.kind, e.peak_c, e.single_breach_ms,
          e.cumulative_breach_ms) for e in exc],
        [(a.rule, a.status, a.count, a.first_ms, a.last_ms, a.severity, a.active)
         for a in alarms if a.cleared_reason is None or "withdrawn" not in a.cleared_reason],
    )  # fmt: skip


async def run_batches(
    db: Database, ts: TimeSeriesStore, batches: list[tuple[list[int], list[float]]]
) -> Engine:
    engine = Engine(db, ts, clock=ManualClock())
    for t, v in batches:
        b = block(DEV, t, v)
        await ts.write_blocks([b])
        engine.readings_written([b])
        await engine.step()
    return engine


async def test_in_order_excursions_and_flapping_alarm(db: Database, tmp_path: Path) -> None:
    await make_place(db, DEV)
    ts = SqliteStore(tmp_path / "ts.db")
    await ts.open()
    t, v = profile_day()
    await run_batches(db, ts, [(t[i : i + 10], v[i : i + 10]) for i in range(0, 360, 10)])
    exc, alarms = await state(db)
    assert [e[3] for e in exc] == ["excursion"] * 3
    assert [e[0] for e in exc] == [T0 + 30 * MIN, T0 + 60 * MIN, T0 + 100 * MIN]
    assert exc[2][5] == T0 + 130 * MIN + 1  # single limit (30 min) passed
    assert exc[2][6] == T0 + 149 * MIN + 1  # 5 + 6 + 49 min = 60 min: cumulative passed
    rng_alarm = [a for a in alarms if a[0] == "range"]
    # one alarm for the three (flapping), critical since the long one passed the limit
    assert rng_alarm == [("range", "raised", 3, T0 + 30 * MIN, T0 + 150 * MIN, "critical", False)]
    assert [a[0] for a in alarms] == ["range", "cumulative"]
    await ts.close()


async def _out_of_order_equals_in_order(db: Database, ts: TimeSeriesStore, other: Database,
                                        other_ts: TimeSeriesStore, size: int = 10) -> None:  # fmt: skip
    t, v = profile_day()
    batches = [(t[i : i + size], v[i : i + size]) for i in range(0, 360, size)]
    await make_place(db, DEV)
    await run_batches(db, ts, batches)
    in_order = await state(db)
    shuffled = batches[:]
    random.Random(3).shuffle(shuffled)
    # a backlog: the truck's last two hours arrive first, then the rest in random order
    await make_place(other, DEV)
    await run_batches(other, other_ts, shuffled)
    assert await state(other) == in_order


@pytest.mark.parametrize("size", [10, 1, 23])
async def test_late_and_out_of_order_batches_give_the_in_order_result(
    db: Database, tmp_path: Path, size: int
) -> None:
    """Batches of ``size`` readings (1: every reading on its own) in random order."""
    from cloud.db import Database as Db
    from tests.support.schema import migrate_async

    url = f"sqlite:///{tmp_path / 'other.db'}"
    await migrate_async(url)
    other = Db(url)
    a, b = SqliteStore(tmp_path / "a.db"), SqliteStore(tmp_path / "b.db")
    await a.open()
    await b.open()
    try:
        await _out_of_order_equals_in_order(db, a, other, b, size)
    finally:
        await a.close()
        await b.close()
        await other.dispose()


@pytest.mark.influx
async def test_out_of_order_on_influxdb(db: Database, influx_store: TimeSeriesStore,
                                         tmp_path: Path) -> None:  # fmt: skip
    from cloud.db import Database as Db
    from tests.support.schema import migrate_async

    url = f"sqlite:///{tmp_path / 'other.db'}"
    await migrate_async(url)
    other = Db(url)
    # influx_store is a fresh database: the readings of the in-order run
    sq = SqliteStore(tmp_path / "b.db")
    await sq.open()
    try:
        t, v = profile_day()
        shift = int(__import__("time").time() * 1000) - 7 * 3_600_000 - T0  # within retention
        t = [x + shift for x in t]
        batches = [(t[i : i + 10], v[i : i + 10]) for i in range(0, 360, 10)]
        await make_place(db, DEV)
        await run_batches(db, influx_store, batches)
        in_order = await state(db)
        shuffled = batches[:]
        random.Random(3).shuffle(shuffled)
        await make_place(other, DEV)
        await run_batches(other, sq, shuffled)
        assert await state(other) == in_order
        assert in_order[1][0][2] == 3  # the flapping alarm's count
    finally:
        await sq.close()
        await other.dispose()


async def test_acknowledge_clear_and_audit(db: Database, tmp_path: Path) -> None:
    await make_place(db, DEV)
    ts = SqliteStore(tmp_path / "ts.db")
    await ts.open()
    raised: list[int] = []
    engine = Engine(db, ts, clock=ManualClock(), on_raised=raised.append)
    t, v = minutes([5, 5, 10, 10, 10, 10])
    b = block(DEV, t, v)
    await ts.write_blocks([b])
    engine.readings_written([b])
    await engine.step()
    assert len(raised) == 1
    async with db.transaction() as s:
        alarm = await s.get(ColdchainAlarm, raised[0])
        assert alarm is not None and alarm.active and alarm.status == "raised"
        with pytest.raises(lifecycle.AlarmError, match="comment"):
            await lifecycle.acknowledge(s, alarm, actor="user:li", comment="  ", now=utcnow())
        await lifecycle.acknowledge(s, alarm, actor="user:li", comment="门已关好 door shut",
                                    now=utcnow())  # fmt: skip
        assert alarm.status == "acknowledged"
        with pytest.raises(lifecycle.AlarmError, match="acknowledged already"):
            await lifecycle.acknowledge(s, alarm, actor="user:wang", comment="x", now=utcnow())
    # back in range: an acknowledged alarm clears
    t2, v2 = minutes([5, 5], start=T0 + 6 * MIN)
    b2 = block(DEV, t2, v2)
    await ts.write_blocks([b2])
    engine.readings_written([b2])
    await engine.step()
    async with db.session() as s:
        alarm = await s.get(ColdchainAlarm, raised[0])
        assert alarm is not None
        assert (alarm.status, alarm.active, alarm.acknowledged_by) == ("cleared", False, "user:li")
        actions = (await s.scalars(select(AuditEntry.action).where(
            AuditEntry.target == f"alarm:{raised[0]}").order_by(AuditEntry.id))).all()  # fmt: skip
    assert list(actions) == ["coldchain.alarm.raised", "coldchain.alarm.acknowledged",
                             "coldchain.alarm.condition_ended", "coldchain.alarm.cleared"]  # fmt: skip
    # a new excursion after the clear is a new alarm
    t3, v3 = minutes([10, 10, 10, 10], start=T0 + 8 * MIN)
    b3 = block(DEV, t3, v3)
    await ts.write_blocks([b3])
    engine.readings_written([b3])
    await engine.step()
    assert len(raised) == 2
    await ts.close()


async def test_gateway_local_alarms_join_the_lifecycle(db: Database, tmp_path: Path) -> None:
    await make_place(db, DEV)
    ts = SqliteStore(tmp_path / "ts.db")
    await ts.open()
    raised: list[int] = []
    engine = Engine(db, ts, clock=ManualClock(), on_raised=raised.append)

    def ev(i: int, kind: EventType) -> EventMessage:
        return EventMessage(gw="gw-m1", id=f"ev-{i}", ts=T0 + i * MIN, type=kind, device=DEV,
                            severity=Severity.CRITICAL if kind is EventType.ALARM else Severity.INFO,
                            message="room-1 above 8", attrs={"rule": "room-high",
                                                             "metric": "temp_c", "value": 9.1})  # fmt: skip

    for e in (ev(1, EventType.ALARM), ev(1, EventType.ALARM),  # a resend counts once
              ev(2, EventType.ALARM_CLEAR), ev(3, EventType.ALARM)):  # fmt: skip
        engine.event_stored(e, "533103")
    engine.event_stored(ev(4, EventType.ALARM_CLEAR), "533103")
    await engine.step()
    async with db.session() as s:
        rows = (await s.scalars(select(ColdchainAlarm))).all()
    assert len(rows) == 1 and raised == [rows[0].id]
    a = rows[0]
    assert (a.rule, a.source, a.count, a.active, a.status) == (
        "gateway:room-high",
        "gateway",
        2,
        False,
        "raised",
    )
    assert a.first_ms == T0 + MIN and a.peak_c == 9.1 and a.location_id is not None
    await ts.close()


async def test_devices_without_a_profile_are_skipped(db: Database, tmp_path: Path) -> None:
    ts = SqliteStore(tmp_path / "ts.db")
    await ts.open()
    engine = Engine(db, ts, clock=ManualClock())
    b = block("gw-x.room-9", *minutes([20, 20, 20, 20]))
    await ts.write_blocks([b])
    engine.readings_written([b])
    await engine.step()
    assert engine.evaluations == 0
    assert (await state(db)) == ([], [])
    await ts.close()


async def test_the_migrations_match_the_models() -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from cloud.db.models import Base
    from tests.support.schema import sqlite_template

    engine = create_engine(f"sqlite:///{await sqlite_template()}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    ours = [d for d in diff if "coldchain_" in repr(d) or "notify_" in repr(d)]
    assert ours == []


async def test_recheck_command_rebuilds_excursions(tmp_path: Path) -> None:
    """``dehong coldchain recheck`` evaluates readings the engine never saw (written
    while no engine ran)."""
    import subprocess
    import sys

    from tests.support.schema import migrate_async

    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    rel = Database(url)
    await make_place(rel, DEV)
    ts = SqliteStore(tmp_path / "ts.db")
    await ts.open()
    await ts.write_blocks([block(DEV, *minutes([5, 10, 10, 10, 5]))])
    await ts.close()
    root = ROOT
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "DEHONG_DATABASE_URL": url,
           "DEHONG_TSDB_PATH": str(tmp_path / "ts.db"), "DEHONG_INFLUX_URL": ""}  # fmt: skip
    cmd = [sys.executable, "-c", "from dehong.cli import main; main()", "coldchain", "recheck"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, cwd=root,
                              timeout=60)  # fmt: skip

    r = await asyncio.to_thread(run, DEV, "--start", str(T0), "--end", str(T0 + 10 * MIN))
    assert r.returncode == 0, r.stderr
    assert '"excursions_from_start": 1' in r.stdout
    exc, alarms = await state(rel)
    assert [(e[0], e[1]) for e in exc] == [(T0 + MIN, T0 + 4 * MIN)] and len(alarms) == 1
    r = await asyncio.to_thread(run, "nobody.room-1", "--start", str(T0), "--end", str(T0 + MIN))
    assert r.returncode == 2 and "no location with a commodity profile" in r.stderr
    await rel.dispose()


async def test_a_door_contact_of_its_own_reclasses_a_spike_even_late(
    db: Database, tmp_path: Path
) -> None:
    from tests.cloud.coldchain.support import link

    loc = await make_place(db, DEV)
    door_dev = "gw-m1.door-1"
    await link(db, loc, door_dev)
    ts = SqliteStore(tmp_path / "ts.db")
    await ts.open()
    engine = Engine(db, ts, clock=ManualClock())
    spike = block(DEV, *minutes([5, 5, 10, 10, 10, 9, 5, 5]))
    await ts.write_blocks([spike])
    engine.readings_written([spike])
    await engine.step()
    exc, alarms = await state(db)
    assert [e[3] for e in exc] == ["excursion"] and len(alarms) == 1
    # the door contact's readings arrive afterwards (its gateway was offline)
    door = block(door_dev, [T0 + MIN, T0 + 2 * MIN], [1.0, 0.0], metric="door")
    await ts.write_blocks([door])
    engine.readings_written([door])
    await engine.step()
    exc, alarms = await state(db)
    assert [e[3] for e in exc] == ["door"]
    assert alarms == []  # the alarm raised on the partial picture is withdrawn
    await ts.close()


async def test_a_late_batch_after_a_restart_keeps_the_later_excursions(
    db: Database, tmp_path: Path
) -> None:
    """A restarted engine (or another process's: the API's positions engine) knows no
    device's newest reading: a late batch of early readings must not replace the stored
    excursions after it with nothing (and withdraw their alarms)."""
    await make_place(db, DEV)
    ts = SqliteStore(tmp_path / "ts.db")
    await ts.open()
    t, v = profile_day()
    batches = [(t[i : i + 10], v[i : i + 10]) for i in range(0, 360, 10)]
    await run_batches(db, ts, batches)
    before = await state(db)
    assert len(before[0]) == 3
    # a new process, some time after the readings: a gateway resends the first batch
    fresh = Engine(db, ts, clock=ManualClock(T0 / 1000 + 7 * 3600))
    b = block(DEV, *batches[0])
    await ts.write_blocks([b])
    fresh.readings_written([b])
    await fresh.step()
    assert await state(db) == before
    async with db.session() as s:
        withdrawn = (await s.scalars(select(ColdchainAlarm).where(
            ColdchainAlarm.cleared_reason.like("withdrawn%")))).all()  # fmt: skip
    assert withdrawn == []
    await ts.close()
