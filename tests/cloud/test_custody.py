"""cloud/trace/custody: custody intervals from stored events, sensor evidence as EPCIS
events through store_events (so in the log), late data superseding, the job, the API
(SQLite and PostgreSQL); evidence from roll-ups agreeing with raw within 0.1 °C on
both time-series stores (SQLite and InfluxDB)."""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select

from cloud.auth.principal import Role
from cloud.catalog.service import get_location_by_gln
from cloud.db import Database
from cloud.timeseries import TimeSeriesStore
from cloud.timeseries.rollup import RollupJob
from cloud.timeseries.windows import DAY_MS, MINUTE_MS
from cloud.trace.custody import service
from cloud.trace.custody.evidence import interval_evidence
from cloud.trace.custody.storage import CustodyCursor, CustodyEvidence
from cloud.trace.epcis import validate_event
from cloud.trace.events.service import store_events
from cloud.trace.log.storage import LogLeaf
from cloud.trace.lots.storage import TraceLot
from tests.cloud.custody_support import (
    World,
    admin,
    event,
    make_world,
    readings,
    story,
    write,
)
from tests.support.api import ApiEnv, api_env
from tests.support.epcis import gtin, sscc
from tests.support.schema import sqlite_template


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


def _url(w: World, tail: str = "") -> str:
    return f"/api/v1/trace/lots/{w.gtin}/{w.lot}/custody{tail}"


async def test_custody_evidence_and_late_data_through_the_api(env: ApiEnv) -> None:
    w = await make_world(env.db, n=1)
    await story(env.db, w)
    now_min = (time.time() * 1000 - w.h0) / MINUTE_MS
    # room A: an hour's outage (+60..+120 min) whose backlog comes later; B up to now
    await write(env.db, env.tsdb, readings(w, "A", -30, 200, skip=(60, 120)))
    await write(env.db, env.tsdb, readings(w, "B", 200, now_min + 1))
    h = await env.headers(Role.COUNTY_ADMIN, w.county)

    r = await env.client.get(_url(w), headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["uri"] == w.lot_uri
    got = [(i["place"], i["state"], i["end"] is None) for i in body["intervals"]]
    assert got == [
        (w.place("A"), "pending", False),
        (w.place("V"), "no_devices", False),
        (w.place("B"), "open", True),
    ]
    a = body["intervals"][0]
    assert a["location"]["name"] == "A 1" and a["location"]["kind"] == "cold_room"

    r = await env.client.post(_url(w, "/evidence"), headers=h)
    assert r.status_code == 200, r.text
    done = r.json()
    assert len(done["stored"]) == 2 and done["superseded"] == [] and done["unmeasured"] == 1
    a, v, b = done["custody"]["intervals"]
    assert (a["state"], v["state"], b["state"]) == ("evidenced", "no_devices", "evidenced")
    first = a["evidence"]
    assert first["status"] == "insufficient_data" and a["evidence_event_ids"] == [first["event_id"]]
    length = 185 * 60  # +5 .. +190 min
    assert first["coverage"] == pytest.approx((length - 3600) / length, abs=0.01)
    temp = first["summary"]["temperature"]
    assert 3.0 <= temp["min"] <= temp["mean"] <= temp["max"] <= 7.5 and temp["seconds_above"] == 0
    assert first["elements"][0]["readings"]["temperature"]["poll_interval_s"] == 10.0
    assert "humidity" in first["summary"]  # room A measures rh
    assert b["evidence"]["status"] == "pass" and b["evidence"]["closed"] is False
    assert "humidity" not in b["evidence"]["summary"]  # B's device has no humidity metric

    # the evidence is an EPCIS event like any other: queryable, valid, in the log
    r = await env.client.get(f"/api/v1/epcis/events/{quote(first['event_id'], safe='')}", headers=h)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert {"dh": "https://dehong.local/ns/epcis/"} in doc["@context"]
    (ev,) = doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert validate_event(ev, "event", doc["@context"]) == []
    assert ev["bizStep"] == "sensor_reporting" and ev["bizLocation"] == {"id": w.place("A")}
    assert ev["quantityList"] == [{"epcClass": w.lot_uri}]
    element = ev["sensorElementList"][0]
    assert element["sensorMetadata"]["startTime"].endswith("+08:00")
    reports = {x["type"]: x for x in element["sensorReport"]}
    assert reports["gs1:Temperature"]["uom"] == "CEL" and "dh:mkt" in reports["gs1:Temperature"]
    assert reports["gs1:RelativeHumidity"]["uom"] == "P1"
    assert reports["gs1:Temperature"]["meanValue"] == pytest.approx(temp["mean"], abs=1e-3)
    assert ev["dh:status"] == "insufficient_data" and "dh:supersedes" not in ev
    async with env.db.session() as s:
        assert (
            await s.scalar(select(LogLeaf.idx).where(LogLeaf.event_id == ev["eventID"])) is not None
        )

    # the gateway's backlog lands in the outage: new evidence supersedes the old
    await write(env.db, env.tsdb, readings(w, "A", 60, 120))
    r = await env.client.post(_url(w, "/evidence"), params={"include_open": "false"}, headers=h)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["superseded"] == [first["event_id"]] and len(done["stored"]) == 1
    a = done["custody"]["intervals"][0]
    second = a["evidence"]
    assert second["event_id"] == done["stored"][0] != first["event_id"]
    assert second["supersedes"] == first["event_id"] and second["status"] == "pass"
    assert second["coverage"] > 0.99 and second["summary"]["temperature"]["n"] > temp["n"]
    assert a["evidence_event_ids"] == [second["event_id"], first["event_id"]]
    r = await env.client.get(
        f"/api/v1/epcis/events/{quote(second['event_id'], safe='')}", headers=h
    )
    (ev2,) = r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert ev2["dh:supersedes"] == first["event_id"] and ev2["dh:status"] == "pass"
    # the first stays as it was, queryable
    r = await env.client.get(f"/api/v1/epcis/events/{quote(first['event_id'], safe='')}", headers=h)
    assert r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"] == [ev]
    r = await env.client.get(
        "/api/v1/epcis/events",
        params={"EQ_bizStep": "sensor_reporting", "MATCH_anyEPCClass": w.lot_uri},
        headers=h,
    )
    found = {
        e["eventID"] for e in r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    }
    assert {first["event_id"], second["event_id"]} <= found

    # nothing new: nothing stored
    r = await env.client.post(_url(w, "/evidence"), params={"include_open": "false"}, headers=h)
    assert r.json()["stored"] == [] and r.json()["unchanged"] == 1
    audit = (await env.client.get("/api/v1/audit", headers=h)).json()
    assert "custody.evidence" in {e["action"] for e in audit}


async def test_bad_input_names_the_field(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, "533103")
    good = gtin(1)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    for url, field in (
        (f"/api/v1/trace/lots/{bad}/L1/custody", "path.gtin"),
        (f"/api/v1/trace/lots/{good}/L%201/custody", "path.lot"),
    ):
        for method in ("GET", "POST"):
            r = await env.client.request(
                method, url + ("/evidence" if method == "POST" else ""), headers=h
            )
            assert r.status_code == 422 and r.json()["field"] == field, (method, url, r.text)
    r = await env.client.get(f"/api/v1/trace/lots/{good}/NOPE/custody", headers=h)
    assert r.status_code == 404


async def test_the_job_follows_containers_and_rechecks_late_data(env: ApiEnv) -> None:
    w = await make_world(env.db, n=2)
    pallet = f"https://id.gs1.org/00/{sscc(77)}"
    events = [
        event(w, 5, "commissioning", "A", action="ADD"),
        event(w, 30, "packing", None, kind="AggregationEvent", action="ADD",
              parentID=pallet, childQuantityList=[{"epcClass": w.lot_uri}]),
    ]  # fmt: skip
    async with env.db.transaction() as s:
        await store_events(s, events, admin())
    await write(env.db, env.tsdb, readings(w, "A", 0, 180, skip=(60, 100)))
    await RollupJob(env.db, env.tsdb).run_until_idle()
    job = service.job_principal("cli:test")
    result = await service.run_pass(env.db, env.tsdb, job)
    assert (result.lots, result.stored, result.errors) == (1, 0, [])  # still open: nothing
    # the pallet alone leaves A and reaches B: the lot went with it
    moves = [
        {**event(w, 150, "shipping", None), "quantityList": [], "epcList": [pallet]},
        {**event(w, 170, "receiving", "B"), "quantityList": [], "epcList": [pallet]},
    ]
    async with env.db.transaction() as s:
        await store_events(s, moves, admin())
    result = await service.run_pass(env.db, env.tsdb, job)
    assert (result.lots, result.stored, result.errors) == (1, 1, [])
    async with env.db.session() as s:
        lot = await s.get(TraceLot, w.lot_id)
        assert lot is not None
        views = await service.custody_of(s, lot)
        cursor = await s.get(CustodyCursor, service.CURSOR)
    assert [(v.interval.place, v.interval.container) for v in views] == [
        (w.place("A"), None),
        (w.place("B"), pallet),
    ]
    (row,) = views[0].evidence
    assert row.status == "insufficient_data" and row.computed_by == "cli:test"
    assert cursor is not None and cursor.last_seq == result.upto_seq
    # no new events, no new data: nothing to do
    again = await service.run_pass(env.db, env.tsdb, job)
    assert (again.stored, again.unchanged) == (0, 1)
    # late data within raw retention: the recheck supersedes
    await write(env.db, env.tsdb, readings(w, "A", 60, 100))
    await RollupJob(env.db, env.tsdb).run_until_idle()
    late = await service.run_pass(env.db, env.tsdb, job)
    assert (late.stored, late.superseded) == (1, 1)
    async with env.db.session() as s:
        rows = list(
            await s.scalars(
                select(CustodyEvidence)
                .where(CustodyEvidence.lot_id == w.lot_id)
                .order_by(CustodyEvidence.id)
            )
        )
    assert [r.status for r in rows] == ["insufficient_data", "pass"]
    assert rows[1].supersedes == rows[0].event_id


# ------------------------------------------------ raw and roll-ups, both stores


@pytest.fixture
async def rel_db(tmp_path: Path) -> AsyncIterator[Database]:
    shutil.copyfile(await sqlite_template(), tmp_path / "rel.db")
    db = Database(f"sqlite:///{tmp_path / 'rel.db'}")
    try:
        yield db
    finally:
        await db.dispose()


async def test_rollups_agree_with_raw_and_late_data_supersedes(
    ts_store: TimeSeriesStore, rel_db: Database
) -> None:
    db = rel_db
    w = await make_world(db, n=3)
    await story(db, w)
    # an excursion at +120..+140 min, and an outage at +30..+50 whose backlog comes later
    await write(db, ts_store, readings(w, "A", -10, 200, excursion=True, skip=(30, 50)))
    await RollupJob(db, ts_store).run_until_idle()
    a_start, a_end = w.at(5), w.at(190)
    now = int(time.time() * 1000)
    async with db.session() as s:
        lot = await s.get(TraceLot, w.lot_id)
        assert lot is not None
        limits = await service.lot_limits(s, lot.gtin)
        loc = await get_location_by_gln(s, w.place("A"))
        assert loc is not None and limits is not None
        raw = await interval_evidence(s, ts_store, loc, a_start, a_end, limits, now_ms=now)
        # 200 days later raw data has expired: the roll-ups answer
        later = now + 200 * DAY_MS
        old = await interval_evidence(s, ts_store, loc, a_start, a_end, limits, now_ms=later)
    r, o = raw.summary["temperature"], old.summary["temperature"]
    assert r.source == "raw" and o.source == "rollup"
    for name in ("mean", "mkt", "min", "max"):
        assert getattr(o, name) == pytest.approx(getattr(r, name), abs=0.1), name
    assert o.coverage == pytest.approx(r.coverage, abs=0.01)
    assert r.longest_excursion_s == pytest.approx(20 * 60, abs=10)  # 12 °C for 20 min
    assert o.cumulative_excursion_s >= r.cumulative_excursion_s - 1e-6  # an upper bound
    assert raw.status == old.status == "excursion"  # 20 min > the 10 min limit
    rh_raw, rh_old = raw.summary["humidity"], old.summary["humidity"]
    assert rh_old.mean == pytest.approx(rh_raw.mean, abs=0.1)

    # through the service: evidence, late data, a superseding event
    first = await service.compute_evidence(db, ts_store, lot, admin(), include_open=False)
    assert len(first.stored) == 1
    await write(db, ts_store, readings(w, "A", 30, 50, excursion=True))
    second = await service.compute_evidence(db, ts_store, lot, admin(), include_open=False)
    assert second.superseded == first.stored and len(second.stored) == 1
    async with db.session() as s:
        rows = {
            r.event_id: r
            for r in await s.scalars(
                select(CustodyEvidence).where(CustodyEvidence.lot_id == w.lot_id)
            )
        }
    before, after = rows[first.stored[0]], rows[second.stored[0]]
    assert after.supersedes == before.event_id
    assert after.coverage > before.coverage
    n = lambda row: row.figures["summary"]["temperature"]["n"]  # noqa: E731
    assert n(after) == n(before) + 20 * 6
    # the open interval (B) up to the start of the minute: asked again within it, the same
    minute = (now // MINUTE_MS + 1) * MINUTE_MS
    opened = await service.compute_evidence(db, ts_store, lot, admin(), now_ms=minute + 1_000)
    assert len(opened.stored) == 1 and opened.unchanged == 1  # B new, A as it was
    again = await service.compute_evidence(db, ts_store, lot, admin(), now_ms=minute + 59_000)
    assert again.stored == [] and again.unchanged == 2
    # expired raw data: evidence is final, nothing recomputed
    final = await service.compute_evidence(
        db, ts_store, lot, admin(), include_open=False, now_ms=now + 200 * DAY_MS
    )
    assert (final.stored, final.final) == ([], 1)


async def test_the_command_computes_named_lots_and_runs_a_pass(
    rel_db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cloud.settings import get_settings
    from cloud.timeseries.sqlite import SqliteStore
    from dehong.cli import build_parser

    tsdb = SqliteStore(tmp_path / "ts.db")
    await tsdb.open()
    try:
        w = await make_world(rel_db, n=4)
        await story(rel_db, w)
        await write(rel_db, tsdb, readings(w, "A", 0, 200))
    finally:
        await tsdb.close()
    monkeypatch.setenv("DEHONG_DATABASE_URL", str(rel_db.engine.url))
    monkeypatch.setenv("DEHONG_TSDB_PATH", str(tmp_path / "ts.db"))
    monkeypatch.setenv("DEHONG_INFLUX_URL", "")
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    # the command reads get_settings(): not what an earlier test's command cached
    get_settings.cache_clear()

    async def dehong(*args: str) -> tuple[int, str, str]:
        ns = build_parser().parse_args(["trace", "evidence", *args])
        code = await ns.handler(ns)
        out = capsys.readouterr()
        return code, out.out, out.err

    code, out, err = await dehong("--lot", f"{w.gtin}/{w.lot}")
    assert code == 0, err
    assert f"{w.gtin}/{w.lot}: 1 stored (0 superseding), 0 unchanged" in out, out
    code, out, err = await dehong()
    assert code == 0, err
    assert "evidence pass: 1 lots, 0 events stored (0 superseding), 1 unchanged" in out, out
    code, _, err = await dehong("--lot", "123/L1")
    assert code == 2 and "--lot '123/L1'" in err
    code, _, err = await dehong("--every", "0")
    assert code == 2 and "--every" in err
    async with rel_db.session() as s:
        (row,) = await s.scalars(select(CustodyEvidence))
    assert row.computed_by.startswith("cli:") and row.status == "pass"
    get_settings.cache_clear()  # nor for a later test


async def test_the_migration_matches_the_models() -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from cloud.db.models import Base

    engine = create_engine(f"sqlite:///{await sqlite_template()}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diff if "trace_custody" in repr(d)] == []


def test_a_slice_a_device_reported_nothing_in_is_left_out_of_the_event() -> None:
    """A device with no reading of any quantity in a slice (an interval just opened, a
    device silent): its element has no report, and an element with an empty
    sensorReport is invalid EPCIS ("sensorReport: must have at least 1 item"), which
    refused the whole evidence event (the demo's story logged it at shutdown). Such an
    element is left out; an interval with no element at all carries no list."""
    from cloud.trace.custody.event import evidence_event
    from cloud.trace.custody.evidence import Element, IntervalEvidence

    t0 = 1_780_000_000_000
    silent = Element("gw-m1.room-1", t0, t0 + 60_000, {}, {}, {})
    ev = IntervalEvidence(t0, t0 + 60_000, elements=[silent], status="insufficient_data")
    lot = "https://id.gs1.org/01/06920003124012/10/LOT-1"
    event = evidence_event(lot, "urn:epc:id:sgln:6920003.00001.0", ev, custody_start_ms=t0,
                           custody_end_ms=None)  # fmt: skip
    assert "sensorElementList" not in event
    event["eventID"] = "ni:///sha-256;" + "0" * 64 + "?ver=CBV2.0"
    assert validate_event(event, "event", None) == []
