"""cloud/trace/operations: our own steps (harvest, process, pack, test, store, load,
receive, sell) write valid EPCIS 2.0 events through store_events, on SQLite and
PostgreSQL: idempotent retries (harvest and process included), 409 for a reused
event_id, 422 naming the field in body terms, 404/403 across counties, the 合格证
required for load and sell, custody after store -> load -> receive, and the
``dehong trace op`` command."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from cloud.auth.principal import Role
from cloud.catalog.storage import ProductionBase
from cloud.trace.custody.service import custody_of
from cloud.trace.epcis import validate_event
from cloud.trace.epcis.identifiers import dl_uri
from cloud.trace.epcis.vocabulary import vocabularies
from cloud.trace.events.storage import TraceEvent
from cloud.trace.lots.storage import TraceLot, TraceLotParent
from cloud.trace.operations.events import CONTEXT, STEP_VOCAB
from tests.cloud.custody_support import World, make_world
from tests.support.api import HOME, OTHER, ApiEnv, api_env
from tests.support.epcis import sscc

OPS = "/api/v1/trace/ops"
T0 = "2026-11-20T08:05:00.000+08:00"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


def _eid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _at(minutes: int) -> str:
    return f"2026-11-20T{8 + minutes // 60:02d}:{minutes % 60:02d}:00.000+08:00"


def _harvest(w: World, lot: str, **more: Any) -> dict[str, Any]:
    return {
        "event_id": _eid(), "time": T0, "gtin": w.gtin, "lot": lot, "org_id": w.org_id,
        "quantity": 500, "unit": "KGM", "location_id": w.locations["A"][0], **more,
    }  # fmt: skip


async def _events_of(env: ApiEnv, h: dict[str, str], g: str, lot: str) -> list[dict[str, Any]]:
    r = await env.client.get(
        "/api/v1/epcis/events", params={"MATCH_anyEPCClass": dl_uri(g, lot)}, headers=h
    )
    assert r.status_code == 200, r.text
    return r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]


@pytest.mark.parametrize(
    ("event_field", "body_field"),
    [
        ("eventList[0].eventID", "body.event_id"),
        ("eventList[0].quantityList[1].epcClass", "body.lots[1]"),
        ("eventList[0].childQuantityList[0].uom", "body.lots[0]"),
        ("eventList[0].epcList[2]", "body.containers[2]"),
        ("eventList[0].inputQuantityList[3].epcClass", "body.inputs[3]"),
        ("eventList[0].outputQuantityList[0].epcClass", "body.output"),
        ("eventList[0].bizLocation.id", "body.location_id"),
        ("eventList[0].sensorElementList", "event.sensorElementList"),
    ],
)
def test_event_errors_name_the_body_field(event_field: str, body_field: str) -> None:
    from cloud.trace.operations.service import body_field as to_body

    assert to_body(event_field) == body_field


def test_every_word_is_cbv() -> None:
    words = vocabularies()
    for step, v in STEP_VOCAB.items():
        assert v.biz_step in words["bizStep"].words, step
        assert v.disposition is None or v.disposition in words["disposition"].words, step
    assert "sampling" in words["bizStep"].words  # the test step's other word


async def test_the_story_through_the_api(env: ApiEnv) -> None:
    w = await make_world(env.db)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    a, b, v = (w.locations[n][0] for n in "ABV")

    async with env.db.transaction() as s:
        base = ProductionBase(org_id=w.org_id, county=HOME, name="garden", kind="plantation",
                              geometry={"type": "Point", "coordinates": [98.58, 24.43]},
                              lon=98.58, lat=24.43, created_by="test")  # fmt: skip
        s.add(base)
        await s.flush()
        base_id = base.id

    # harvest: the lot and its commissioning event, in one go
    body = _harvest(w, "H-1", origin_base_id=base_id)
    r = await env.client.post(f"{OPS}/harvest", json=body, headers=h)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["outcome"] == "stored" and out["event_id"] == body["event_id"]
    assert out["lot"]["lot"] == "H-1" and out["lot"]["county"] == HOME
    assert out["lot"]["produced_on"] == "2026-11-20"
    ev = out["event"]
    assert (ev["type"], ev["action"], ev["bizStep"], ev["disposition"]) == (
        "ObjectEvent", "ADD", "commissioning", "active",
    )  # fmt: skip
    assert ev["quantityList"] == [
        {"epcClass": dl_uri(w.gtin, "H-1"), "quantity": 500, "uom": "KGM"}
    ]
    assert ev["bizLocation"] == {"id": w.place("A")} and ev["eventTime"] == T0
    # the retry (the phone lost the answer): 200 unchanged, no second lot, no 409
    r = await env.client.post(f"{OPS}/harvest", json=body, headers=h)
    assert r.status_code == 200 and r.json()["outcome"] == "unchanged", r.text
    assert r.json()["lot"]["id"] == out["lot"]["id"]
    # the same event_id with other content: 409; a new event for the existing lot: 409
    r = await env.client.post(f"{OPS}/harvest", json={**body, "quantity": 501}, headers=h)
    assert r.status_code == 409, r.text
    r = await env.client.post(f"{OPS}/harvest", json={**body, "event_id": _eid()}, headers=h)
    assert r.status_code == 409 and r.json()["field"] == "body.lot", r.text

    # process: the output lot with its parent, and a TransformationEvent
    pbody = {
        "event_id": _eid(), "time": _at(30), "inputs": [{"gtin": w.gtin, "lot": "H-1",
        "quantity": 500, "unit": "KGM"}], "output": {"gtin": w.gtin, "lot": "P-1",
        "quantity": 480, "unit": "KGM"}, "process": "washing", "location_id": a,
    }  # fmt: skip
    r = await env.client.post(f"{OPS}/process", json=pbody, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["lot"]["parents"] == [{"gtin": w.gtin, "lot": "H-1"}]
    assert r.json()["lot"]["origin_base_id"] == base_id  # the inputs' one origin
    ev = r.json()["event"]
    assert ev["type"] == "TransformationEvent" and ev["dh:process"] == "washing"
    assert ev["inputQuantityList"][0]["epcClass"] == dl_uri(w.gtin, "H-1")
    assert ev["outputQuantityList"] == [{"epcClass": dl_uri(w.gtin, "P-1"), "quantity": 480,
                                         "uom": "KGM"}]  # fmt: skip
    r = await env.client.post(f"{OPS}/process", json=pbody, headers=h)
    assert r.status_code == 200 and r.json()["outcome"] == "unchanged", r.text

    # test: the results service's event
    tbody = {"event_id": _eid(), "time": _at(40), "lot": {"gtin": w.gtin, "lot": "P-1"},
             "results": [{"test": "pesticide_residue", "value": 0.01, "limit": 0.05,
                          "unit": "MGM"}]}  # fmt: skip
    r = await env.client.post(f"{OPS}/test", json=tbody, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["event"]["bizStep"] == "inspecting"
    assert (await env.client.post(f"{OPS}/test", json=tbody, headers=h)).status_code == 200
    got = await env.client.get(f"/api/v1/trace/lots/{w.gtin}/P-1/tests", headers=h)
    assert [x["event_id"] for x in got.json()["items"]] == [tbody["event_id"]]

    # pack P-1 into a case
    case = sscc(71)
    kbody = {"event_id": _eid(), "time": _at(50), "lots": [{"gtin": w.gtin, "lot": "P-1",
             "quantity": 480, "unit": "KGM"}], "parent": case, "location_id": a}  # fmt: skip
    r = await env.client.post(f"{OPS}/pack", json=kbody, headers=h)
    assert r.status_code == 201, r.text
    ev = r.json()["event"]
    assert ev["type"] == "AggregationEvent" and ev["parentID"] == f"https://id.gs1.org/00/{case}"
    assert ev["childQuantityList"][0]["epcClass"] == dl_uri(w.gtin, "P-1")

    # store in B, then load onto V: a vegetable needs its 合格证 first
    r = await env.client.post(
        f"{OPS}/store", json={"time": _at(60), "lots": [{"gtin": w.gtin, "lot": "P-1"}],
                              "location_id": b}, headers=h,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["event"]["bizStep"] == "storing"
    lbody = {"event_id": _eid(), "time": _at(120), "lots": [{"gtin": w.gtin, "lot": "P-1"}],
             "location_id": v, "destination_id": a}  # fmt: skip
    r = await env.client.post(f"{OPS}/load", json=lbody, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "body.lots[0]", r.text
    assert "合格证" in r.json()["detail"]
    # the case holding P-1 is refused too, named as the container
    r = await env.client.post(
        f"{OPS}/load", json={**lbody, "lots": [], "containers": [case]}, headers=h
    )
    assert r.status_code == 422 and r.json()["field"] == "body.containers[0]", r.text
    r = await env.client.post(
        f"/api/v1/trace/lots/{w.gtin}/P-1/commitment-certificates",
        json={"basis": "self_test", "issued_at": _at(100), "origin": "芒市",
              "contact": "0692-1234567"}, headers=h,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = await env.client.post(f"{OPS}/load", json=lbody, headers=h)
    assert r.status_code == 201, r.text
    ev = r.json()["event"]
    assert (ev["bizStep"], ev["disposition"]) == ("loading", "in_transit")
    assert ev["destinationList"] == [{"type": "location", "destination": w.place("A")}]
    r = await env.client.post(
        f"{OPS}/receive", json={"time": _at(180), "lots": [{"gtin": w.gtin, "lot": "P-1"}],
                                "location_id": a, "source_id": b}, headers=h,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = await env.client.post(
        f"{OPS}/sell", json={"time": _at(240), "lots": [{"gtin": w.gtin, "lot": "P-1"}],
                             "buyer": "芒市农贸市场", "order": "SO-7"}, headers=h,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    ev = r.json()["event"]
    assert (ev["bizStep"], ev["disposition"], ev["dh:buyer"]) == (
        "retail_selling", "retail_sold", "芒市农贸市场",
    )  # fmt: skip

    # custody: A from processing, B stored, V loaded, A received (sell has no place)
    async with env.db.session() as s:
        p1 = await s.scalar(select(TraceLot).where(TraceLot.gtin == w.gtin, TraceLot.lot == "P-1"))
        assert p1 is not None
        views = await custody_of(s, p1)
    spans = [(x.interval.place, x.interval.start.isoformat(), x.location) for x in views]
    assert [(p, loc.id if loc else None) for p, _, loc in spans] == [
        (w.place("A"), a), (w.place("B"), b), (w.place("V"), v), (w.place("A"), a),
    ]  # fmt: skip
    assert views[1].interval.end == views[2].interval.start
    assert views[2].interval.end == views[3].interval.start and views[3].interval.end is None

    # every event validates and is found by its lot
    events = await _events_of(env, h, w.gtin, "P-1")
    steps = [e["bizStep"] for e in events]
    assert steps == ["commissioning", "inspecting", "packing", "storing", "loading",
                     "receiving", "retail_selling"], steps  # fmt: skip
    for e in events + await _events_of(env, h, w.gtin, "H-1"):
        assert validate_event(e, "", CONTEXT) == [], e
    async with env.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(TraceLotParent)) == 1


async def test_harvest_leaves_nothing_half_made(env: ApiEnv) -> None:
    w = await make_world(env.db)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    first = _harvest(w, "HM-1")
    assert (await env.client.post(f"{OPS}/harvest", json=first, headers=h)).status_code == 201
    # another lot under the first's event_id: 409, and no lot HM-2
    r = await env.client.post(
        f"{OPS}/harvest", json={**_harvest(w, "HM-2"), "event_id": first["event_id"]}, headers=h
    )
    assert r.status_code == 409 and r.json()["field"] == "body.event_id", r.text
    # an unknown production base: 422 naming it, nothing stored
    r = await env.client.post(
        f"{OPS}/harvest", json=_harvest(w, "HM-3", origin_base_id=999_999), headers=h
    )
    assert r.status_code == 422 and r.json()["field"] == "body.origin_base_id", r.text
    async with env.db.session() as s:
        lots = set(await s.scalars(select(TraceLot.lot).where(TraceLot.lot.like("HM-%"))))
        assert lots == {"HM-1"}
        assert await s.scalar(select(func.count()).select_from(TraceEvent)) == 1
    # no event_id, the same time: the event hash makes the retry idempotent too
    body = {k: x for k, x in _harvest(w, "HM-4").items() if k != "event_id"}
    r1 = await env.client.post(f"{OPS}/harvest", json=body, headers=h)
    r2 = await env.client.post(f"{OPS}/harvest", json=body, headers=h)
    assert (r1.status_code, r2.status_code) == (201, 200), r2.text
    assert (
        r1.json()["event_id"].startswith("ni:///sha-256;")
        and r1.json()["event_id"] == r2.json()["event_id"]
    )


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("store", {"lots": [{"gtin": "06901234000011", "lot": "X"}]}, "body.lots[0].gtin"),
    ("store", {"lots": [{"gtin": "{g}", "lot": "bad lot!"}]}, "body.lots[0].lot"),
    ("store", {"lots": []}, "body.lots"),
    ("store", {"lots": [{"gtin": "{g}", "lot": "{lot}"}]}, "body.location_id"),
    ("store", {"lots": [{"gtin": "{g}", "lot": "{lot}", "unit": "KGM"}]}, "body.lots[0].unit"),
    ("store", {"containers": ["123456789012345678"]}, "body.containers[0]"),
    ("store", {"containers": ["https://id.gs1.org/01/{g}/10/X"]}, "body.containers[0]"),
    ("store", {"event_id": "not a uri"}, "body.event_id"),
    ("store", {"event_id": "1234"}, "body.event_id"),
    ("store", {"time": "2026-11-20T08:00:00"}, "body.time"),
    ("store", {"colour": "red"}, "body.colour"),
    ("store", {"location_id": 999999}, "body.location_id"),
    ("store", {"lots": [{"gtin": "{g}", "lot": "NO-SUCH"}]}, "body.lots[0]"),
    ("process", {"inputs": []}, "body.inputs"),
    ("process", {"process": "baking"}, "body.process"),
    ("process", {"inputs": [{"gtin": "{g}", "lot": "PX-1"}]}, "body.inputs[0]"),
    ("pack", {"parent": "12345"}, "body.parent"),
    ("pack", {"parent": "{case}", "containers": ["{case}"], "lots": []}, "body.parent"),
    ("harvest", {"unit": "kilogram"}, "body.unit"),
    ("harvest", {"quantity": -1}, "body.quantity"),
    ("harvest", {"gtin": "06901234999997"}, "body.gtin"),
    ("test", {"results": [{"test": "x", "value": 1}]}, "body.results[0].passed"),
    ("load", {"destination_id": 999999}, "body.destination_id"),
    ("receive", {"source_id": 999999}, "body.source_id"),
    ("store", {"location_id": "{loc:V}"}, "body.location_id"),  # stored in a vehicle
    ("load", {"location_id": "{loc:B}"}, "body.location_id"),  # loaded into a room
]


@pytest.mark.parametrize(("step", "change", "field"), BAD, ids=[f"{s}-{f}" for s, _, f in BAD])
async def test_bad_input_names_the_field(
    env: ApiEnv, step: str, change: dict[str, Any], field: str
) -> None:
    w = await make_world(env.db)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    item = {"gtin": w.gtin, "lot": w.lot}
    good: dict[str, dict[str, Any]] = {
        "store": {"lots": [item], "location_id": w.locations["B"][0]},
        "load": {"lots": [item], "location_id": w.locations["V"][0]},
        "receive": {"lots": [item], "location_id": w.locations["A"][0]},
        "pack": {"lots": [item], "parent": sscc(9)},
        "process": {
            "inputs": [item],
            "output": {"gtin": w.gtin, "lot": "PX-1", "quantity": 1, "unit": "KGM"},
            "process": "washing",
        },
        "harvest": _harvest(w, "HX-1"),
        "test": {"lot": item, "results": [{"test": "moisture", "value": 1, "limit": 2}]},
    }
    text = json.dumps({**good[step], **change})
    text = text.replace("{g}", w.gtin).replace("{lot}", w.lot).replace("{case}", sscc(9))
    body = json.loads(text)
    if isinstance(place := body.get("location_id"), str):  # "{loc:V}": that location's id
        body["location_id"] = w.locations[place[5:-1]][0]
    if step == "store" and field == "body.location_id" and "location_id" not in change:
        body.pop("location_id")
    r = await env.client.post(f"{OPS}/{step}", json=body, headers=h)
    assert r.status_code in (404, 422), r.text
    assert r.json()["field"] == field, r.text
    assert r.json()["detail"].startswith(field), r.text


async def test_counties_and_organisations(env: ApiEnv) -> None:
    home = await make_world(env.db)
    other = await make_world(env.db, county=OTHER)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    theirs = {"gtin": other.gtin, "lot": other.lot}
    # another county's lot does not exist for this writer; its location neither
    for step, body, field in (
        ("store", {"lots": [theirs], "location_id": home.locations["B"][0]}, "body.lots[0]"),
        ("store", {"lots": [{"gtin": home.gtin, "lot": home.lot}],
                   "location_id": other.locations["B"][0]}, "body.location_id"),
        ("harvest", {**_harvest(home, "Z-1"), "org_id": other.org_id}, "body.org_id"),
        ("test", {"lot": theirs, "results": [{"test": "moisture", "passed": True}]}, "body.lot"),
    ):  # fmt: skip
        r = await env.client.post(f"{OPS}/{step}", json=body, headers=h)
        assert r.status_code == 404 and r.json()["field"] == field, r.text
    # an operator of home's organisation writes its own lots only
    from tests.cloud.test_api_roles import _headers

    neighbour = await make_world(env.db)
    op = await _headers(env, Role.OPERATOR)  # of the first organisation of HOME: home's
    for world, status in ((home, 201), (neighbour, 403)):
        r = await env.client.post(
            f"{OPS}/store",
            json={"lots": [{"gtin": world.gtin, "lot": world.lot}],
                  "location_id": home.locations["B"][0]},
            headers=op,
        )  # fmt: skip
        assert r.status_code == status, r.text
    assert r.json()["field"] == "body.lots[0]", r.text
    # a prefecture admin sees both, but one event's lots are of one county
    pa = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.post(
        f"{OPS}/store",
        json={"lots": [{"gtin": home.gtin, "lot": home.lot}, theirs],
              "location_id": home.locations["B"][0]},
        headers=pa,
    )  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "body.lots[1]", r.text
    # a reader may not write
    r = await env.client.post(
        f"{OPS}/store", json={}, headers=await env.headers(Role.AUDITOR, HOME)
    )
    assert r.status_code == 403
    # the other county's events stay out of this reader's answers
    oh = await env.headers(Role.COUNTY_ADMIN, OTHER)
    r = await env.client.post(
        f"{OPS}/store", json={"lots": [theirs], "location_id": other.locations["B"][0]}, headers=oh
    )
    assert r.status_code == 201, r.text
    assert await _events_of(env, h, other.gtin, other.lot) == []
    eid = quote(r.json()["event_id"], safe="")
    assert (await env.client.get(f"/api/v1/epcis/events/{eid}", headers=h)).status_code == 404


async def test_the_command(env: ApiEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    if env.db.engine.url.get_backend_name() != "sqlite":
        pytest.skip("the command runs against the SQLite database")
    from dehong.cli import build_parser

    w = await make_world(env.db)
    monkeypatch.setenv("DEHONG_DATABASE_URL", str(env.db.engine.url))
    monkeypatch.chdir(tmp_path)  # no .env of the checkout

    async def dehong(*args: str) -> tuple[int, str, str]:
        from cloud.settings import get_settings

        get_settings.cache_clear()  # read this test's environment, not an earlier test's
        ns = build_parser().parse_args(["trace", "op", *args])
        code = await ns.handler(ns)
        out = capsys.readouterr()
        return code, out.out, out.err

    body = tmp_path / "harvest.json"
    body.write_text(json.dumps(_harvest(w, "CLI-1")), encoding="utf-8")
    code, out, err = await dehong("harvest", "--json", str(body))
    assert code == 0, err
    got = json.loads(out)
    assert got["outcome"] == "stored" and got["lot"]["lot"] == "CLI-1"
    code, out, err = await dehong("harvest", "--json", str(body))
    assert code == 0 and json.loads(out)["outcome"] == "unchanged", err
    b = w.locations["B"][0]
    code, out, err = await dehong("store", "--lot", f"{w.gtin}/CLI-1", "--location-id", str(b),
                                  "--time", _at(10), "--note", "冷库 2")  # fmt: skip
    assert code == 0, err
    got = json.loads(out)
    assert got["event"]["bizStep"] == "storing" and got["event"]["dh:note"] == "冷库 2"
    assert got["event"]["bizLocation"] == {"id": w.place("B")}
    code, out, err = await dehong("store", "--lot", f"{w.gtin}/CLI-1")
    assert code == 1 and "body.location_id" in err, err
    code, out, err = await dehong("load", "--lot", f"{w.gtin}/CLI-1", "--location-id",
                                  str(w.locations["V"][0]))  # fmt: skip
    assert code == 1 and "合格证" in err, err
    code, _, err = await dehong("store", "--lot", "123")
    assert code == 2 and "--lot" in err
    from cloud.settings import get_settings

    get_settings.cache_clear()  # the next test reads its own environment
    async with env.db.session() as s:
        row = await s.scalar(select(TraceEvent).where(TraceEvent.biz_step == "storing"))
        assert row is not None and row.county == HOME


async def test_a_retry_racing_the_first_attempt(env: ApiEnv) -> None:
    import asyncio

    w = await make_world(env.db)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    body = _harvest(w, "RACE-1")
    pbody = {"event_id": _eid(), "time": _at(5), "inputs": [{"gtin": w.gtin, "lot": "RACE-1"}],
             "output": {"gtin": w.gtin, "lot": "RACE-2", "quantity": 1, "unit": "KGM"},
             "process": "drying"}  # fmt: skip
    for path, b in ((f"{OPS}/harvest", body), (f"{OPS}/process", pbody)):
        answers = await asyncio.gather(*(env.client.post(path, json=b, headers=h) for _ in "ab"))
        assert sorted(r.status_code for r in answers) == [200, 201], [r.text for r in answers]
        assert {r.json()["lot"]["id"] for r in answers} != {None}
        assert len({r.json()["lot"]["id"] for r in answers}) == 1
    async with env.db.session() as s:
        n = await s.scalar(
            select(func.count()).select_from(TraceLot).where(TraceLot.lot.like("RACE-%"))
        )
        assert n == 2


@pytest.fixture
async def pg_env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("postgres", tmp_path) as e:
        yield e


@pytest.mark.postgres
async def test_a_retry_whose_first_attempt_commits_between_its_reads(
    pg_env: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving that failed a CI run of ``test_a_retry_racing_the_first_attempt``
    (PostgreSQL, read committed): the retry looks for the lot (none yet), the first
    attempt commits the lot and its event, then the retry's registration finds the lot
    and answered 409 "lot exists" instead of the first attempt's event, unchanged."""
    from cloud.trace.operations import service

    env = pg_env
    w = await make_world(env.db)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    body = _harvest(w, "RACE-3")
    real, calls, first = service.create_lot, [], []

    async def create_lot(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # the retry, between its two reads: the first attempt commits
            first.append(await env.client.post(f"{OPS}/harvest", json=body, headers=h))
        return await real(*args, **kwargs)

    monkeypatch.setattr(service, "create_lot", create_lot)
    retry = await env.client.post(f"{OPS}/harvest", json=body, headers=h)
    assert first[0].status_code == 201, first[0].text
    assert retry.status_code == 200 and retry.json()["outcome"] == "unchanged", retry.text
    assert retry.json()["lot"]["id"] == first[0].json()["lot"]["id"]


async def test_the_test_step_takes_the_tests_body(env: ApiEnv) -> None:
    w = await make_world(env.db)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    room = w.place("A").rsplit("/", 1)[1]
    body = {"lot": {"gtin": w.gtin, "lot": w.lot}, "biz_step": "sampling", "time": T0,
            "read_point_gln": room, "biz_location_gln": room, "note": "抽样",
            "results": [{"test": "moisture", "value": 11.2, "min": 10, "limit": 12.5,
                         "unit": "%", "method": "rapid"}]}  # fmt: skip
    r = await env.client.post(f"{OPS}/test", json=body, headers=h)
    assert r.status_code == 201, r.text
    ev = r.json()["event"]
    assert (ev["bizStep"], ev["bizLocation"], ev["dh:note"]) == (
        "sampling",
        {"id": w.place("A")},
        "抽样",
    )
    assert ev["dh:testResult"][0]["dh:passed"] is True
    bad = {**body, "read_point_gln": room[:-1] + str((int(room[-1]) + 1) % 10)}
    r = await env.client.post(f"{OPS}/test", json=bad, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "body.read_point_gln", r.text
