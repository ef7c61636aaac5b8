"""cloud/trace/events: EPCIS 2.0 capture (jobs, all-or-nothing, GS1-Capture-Error-
Behaviour), event identity (hash, idempotency, 409, error declarations), the county
rules, and the query interface with its paging; on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from cloud.auth.principal import Principal, Role
from cloud.catalog.storage import Organisation, Product
from cloud.db import utcnow
from cloud.trace.epcis import event_hash
from cloud.trace.events import capture as capture_jobs
from cloud.trace.events import service
from cloud.trace.events.storage import TraceCaptureJob, TraceEvent, TraceEventObject
from cloud.trace.log.canonical import canonical_json
from cloud.trace.log.merkle import leaf_hash
from cloud.trace.log.storage import LogLeaf
from cloud.trace.lots.storage import TraceLot
from tests.cloud.test_api_isolation_mobile import uscc
from tests.support.api import HOME, OTHER, ApiEnv, api_env
from tests.support.epcis import (
    capture,
    document,
    gtin,
    lot_uri,
    lot_urn,
    member,
    object_event,
    place,
    sscc,
)

G = gtin(1)  # our product: lots of it are registered
CATALOG_ONLY = gtin(3)  # a product of our catalog, no lot registered
PARTNER = "https://id.example.com/01/09506000134352/10/P1"  # a partner's, not ours
LINK = re.compile(r'<([^>]+)>; rel="next"')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        await _lots(e)
        yield e


async def _lots(env: ApiEnv) -> None:
    """Lots M1, M2 of a Mangshi co-op and L1 of a Longchuan one, all of GTIN G."""
    async with env.db.transaction() as s:
        for county, n, lots in ((HOME, 1, ("M1", "M2")), (OTHER, 2, ("L1",))):
            org = Organisation(
                kind="cooperative", name=f"co-op {n}", uscc=uscc(county, n), county=county,
                created_at=utcnow(), created_by="test",
            )  # fmt: skip
            s.add(org)
            await s.flush()
            for lot in lots:
                s.add(TraceLot(gtin=G, lot=lot, county=county, org_id=org.id, created_by="test"))
            if county == HOME:
                s.add(
                    Product(
                        gtin=CATALOG_ONLY, name="芒市小粒咖啡", category="coffee", org_id=org.id,
                        county=county, created_by="test",
                    )
                )  # fmt: skip


async def _count(env: ApiEnv, model: Any = TraceEvent) -> int:
    async with env.db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def _leaves(env: ApiEnv) -> dict[str, bytes]:
    """The tamper-evident log's leaves: log key -> leaf hash."""
    async with env.db.session() as s:
        return {
            k: bytes(h) for k, h in await s.execute(select(LogLeaf.event_id, LogLeaf.leaf_hash))
        }


async def _query(env: ApiEnv, h: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    r = await env.client.get("/api/v1/epcis/events", params=params, headers=h)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["type"] == "EPCISQueryDocument"
    return doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]  # type: ignore[no-any-return]


def _ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["eventID"] for e in events]


async def test_capture_stores_every_event_and_queries_return_them(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    harvest = object_event(
        [lot_uri(G, "M1")], event_id="urn:uuid:6d1b5e3a-0001-4000-8000-000000000001"
    )
    hashed = object_event([lot_uri(G, "M2")], biz_step="inspecting", action="OBSERVE")
    packed = {
        "type": "AggregationEvent", "eventTime": "2026-11-21T09:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00", "parentID": f"https://id.gs1.org/00/{sscc(7)}",
        "childQuantityList": [{"epcClass": lot_urn(G, "M1"), "quantity": 20, "uom": "KGM"}],
        "action": "ADD", "bizStep": "packing", "readPoint": place(3),
        "example:grade": "AA",
    }  # fmt: skip
    doc = document(harvest, hashed, packed, context=[{"example": "https://example.org/ns/"}])
    job = await capture(env, doc, h)
    assert job["success"] is True and job["errors"] == [] and job["events"] == 3
    assert len(job["eventIDs"]) == 3 and job["eventIDs"][0] == harvest["eventID"]
    # no eventID: the CBV 2.0 event hash, with the document's namespaces
    assert job["eventIDs"][1:] == [event_hash(e, doc["@context"]) for e in (hashed, packed)]
    r = await env.client.get("/api/v1/epcis/events", headers=h)
    answer = r.json()
    assert {"example": "https://example.org/ns/"} in answer["@context"]
    events = answer["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert _ids(events) == job["eventIDs"]
    # every field comes back as captured; we add eventID (when absent) and recordTime
    for sent, got in zip(doc["epcisBody"]["eventList"], events, strict=True):
        assert {k: v for k, v in got.items() if k not in ("eventID", "recordTime")} == {
            k: v for k, v in sent.items() if k != "eventID"
        }
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", got["recordTime"])
    # one event by its (URL-encoded) eventID
    for event_id in job["eventIDs"]:
        r = await env.client.get(f"/api/v1/epcis/events/{quote(event_id, safe='')}", headers=h)
        assert r.status_code == 200, r.text
        (one,) = r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        assert one["eventID"] == event_id
    r = await env.client.get(f"/api/v1/epcis/events/{quote('urn:uuid:nope', safe='')}", headers=h)
    assert r.status_code == 404
    async with env.db.session() as s:
        counties = set(await s.scalars(select(TraceEvent.county)))
    assert counties == {HOME}


async def test_same_event_again_is_idempotent_and_another_under_its_id_is_409(
    env: ApiEnv,
) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    first = object_event([lot_uri(G, "M1")])  # no eventID: the hash identifies it
    job = await capture(env, document(first), h)
    assert job["success"] and len(job["eventIDs"]) == 1
    (event_id,) = job["eventIDs"]
    # the same event (with or without its eventID) changes nothing
    again = await capture(env, document(first, {**first, "eventID": event_id}), h)
    assert again["success"] is True and again["eventIDs"] == []
    assert await _count(env) == 1 and list(await _leaves(env)) == [event_id]
    # a different event under that eventID, beside a new valid one: 409, nothing stored
    other = {**first, "eventID": event_id, "bizStep": "shipping"}
    fresh = object_event([lot_uri(G, "M2")], time="2026-11-22T08:00:00.000+08:00")
    job = await capture(env, document(fresh, other), h)
    assert job["success"] is False and job["eventIDs"] == []
    (error,) = job["errors"]
    assert error["status"] == 409 and error["field"] == "epcisBody.eventList[1].eventID"
    assert event_id in error["detail"] and error["eventID"] == event_id
    assert await _count(env) == 1  # all or nothing: the fresh event was not stored


async def test_store_events_is_all_or_nothing_for_every_producer(env: ApiEnv) -> None:
    principal = Principal("user", "ops", Role.COUNTY_ADMIN, HOME)
    good = object_event([lot_uri(G, "M1")])
    bad = object_event([lot_uri(G, "M2")], bizStep="nope")
    async with env.db.transaction() as s:
        with pytest.raises(service.EventsRefused) as exc:
            await service.store_events(s, [good, bad], principal)
        assert exc.value.errors[0].field == "eventList[1].bizStep"
    assert await _count(env) == 0
    async with env.db.transaction() as s:
        stored = await service.store_events(s, [good, copy.deepcopy(good)], principal)
    assert [x.outcome for x in stored] == ["stored", "unchanged"]
    assert stored[0].body["recordTime"] and stored[0].county == HOME
    assert await _count(env) == 1
    async with env.db.session() as s:
        found = await service.get_event(s, stored[0].event_id, principal)
    assert found == stored[0].body


async def test_error_declaration_keeps_the_event_and_marks_it(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    wrong = object_event(
        [lot_uri(G, "M1")], event_id="urn:uuid:6d1b5e3a-0002-4000-8000-000000000002"
    )
    await capture(env, document(wrong), h)
    async with env.db.session() as s:
        before = await s.scalar(select(TraceEvent.body))
    declaration = {"declarationTime": "2026-11-22T10:00:00.000+08:00", "reason": "incorrect_data",
                   "correctiveEventIDs": ["urn:uuid:6d1b5e3a-0003-4000-8000-000000000003"]}  # fmt: skip
    corrective = object_event(
        [lot_uri(G, "M1")], event_id="urn:uuid:6d1b5e3a-0003-4000-8000-000000000003",
        time="2026-11-20T08:30:00.000+08:00",
    )  # fmt: skip
    job = await capture(env, document({**wrong, "errorDeclaration": declaration}, corrective), h)
    assert job["success"] is True, job["errors"]
    assert job["eventIDs"] == [wrong["eventID"], corrective["eventID"]]
    assert await _count(env) == 2
    async with env.db.session() as s:
        row = await s.scalar(select(TraceEvent).where(TraceEvent.event_id == wrong["eventID"]))
        assert row is not None and row.body == before  # never updated in place
        assert row.error_declaration == declaration
    events = await _query(env, h, EXISTS_errorDeclaration="")
    assert _ids(events) == [wrong["eventID"]] and events[0]["errorDeclaration"] == declaration
    r = await env.client.get(f"/api/v1/epcis/events/{quote(wrong['eventID'], safe='')}", headers=h)
    (one,) = r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert one["errorDeclaration"] == declaration
    assert _ids(await _query(env, h, EQ_errorReason="incorrect_data")) == [wrong["eventID"]]
    # the log holds the event as first stored, and the declared event as a leaf of its own
    leaves = await _leaves(env)
    assert leaves[wrong["eventID"]] == leaf_hash(canonical_json({**before}))
    assert leaves[f"{wrong['eventID']}#errorDeclaration"] == leaf_hash(canonical_json(one))
    assert corrective["eventID"] in leaves and len(leaves) == 3
    # the same declaration again changes nothing; another one is refused
    job = await capture(env, document({**wrong, "errorDeclaration": declaration}), h)
    assert job["success"] is True and job["eventIDs"] == []
    other = {**declaration, "reason": "did_not_occur"}
    job = await capture(env, document({**wrong, "errorDeclaration": other}), h)
    assert job["success"] is False
    assert job["errors"][0]["status"] == 409
    assert job["errors"][0]["field"] == "epcisBody.eventList[0].errorDeclaration"


BAD_EVENTS = [
    # (change to a valid event, the field named)
    ({"bizStep": "harvestin"}, "epcisBody.eventList[1].bizStep"),
    ({"epcList": ["urn:epc:id:sgtin:0614141.107346"]}, "epcisBody.eventList[1].epcList[0]"),
    ({"eventTimeZoneOffset": None}, "epcisBody.eventList[1]"),
    ({"quantityList": [{"epcClass": lot_uri(G, "NOT-REGISTERED"), "quantity": 1, "uom": "KGM"}]},
     "epcisBody.eventList[1].quantityList[0].epcClass"),
    # a GTIN of our catalog with no lot registered yet: ours all the same
    ({"epcList": [f"https://id.gs1.org/01/{CATALOG_ONLY}/10/A1/21/7"]},
     "epcisBody.eventList[1].epcList[0]"),
]  # fmt: skip


async def test_bad_input_names_its_field_and_nothing_is_half_captured(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    good = object_event([lot_uri(G, "M1")])
    for change, field in BAD_EVENTS:
        bad = object_event([lot_uri(G, "M2")], time="2026-11-23T08:00:00.000+08:00")
        bad.update(change)
        bad = {k: v for k, v in bad.items() if v is not None}
        job = await capture(env, document(good, bad), h)
        assert job["success"] is False and job["eventIDs"] == [], change
        assert any(e["field"].startswith(field) for e in job["errors"]), (change, job["errors"])
        assert all(e["detail"] and e["status"] == 422 for e in job["errors"])
        assert await _count(env) == 0 and await _count(env, TraceEventObject) == 0
    # a transformation with no inputs
    made = {
        "type": "TransformationEvent", "eventTime": "2026-11-21T09:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00", "bizStep": "commissioning",
        "outputQuantityList": [{"epcClass": lot_uri(G, "M2"), "quantity": 10, "uom": "KGM"}],
    }  # fmt: skip
    job = await capture(env, document(good, made), h)
    assert job["success"] is False, job
    assert job["errors"][0]["field"].startswith("epcisBody.eventList[1]")
    assert await _count(env) == 0
    # proceed: the good events are stored, the others reported
    bad = object_event([lot_uri(G, "M2")], biz_step="no_such_step")
    unknown = object_event([lot_uri(G, "M9")], time="2026-11-24T08:00:00.000+08:00")
    job = await capture(env, document(bad, good, unknown), h, behaviour="proceed")
    assert job["captureErrorBehaviour"] == "proceed"
    assert job["success"] is False and len(job["eventIDs"]) == 1
    assert [e["field"].split(".")[1] for e in job["errors"]] == ["eventList[0]", "eventList[2]"]
    assert await _count(env) == 1


async def test_capture_refuses_what_is_not_a_document_before_any_job(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    url = "/api/v1/epcis/capture"
    doc = document(object_event([lot_uri(G, "M1")]))
    r = await env.client.post(url, content=b"{", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "body"
    r = await env.client.post(url, json={"type": "Nope"}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "body.type"
    r = await env.client.post(url, content=b"<x/>", headers={**h, "Content-Type": "text/xml"})
    assert r.status_code == 415 and r.json()["field"] == "header.Content-Type"
    r = await env.client.post(url, json=doc, headers={**h, "GS1-Capture-Error-Behaviour": "maybe"})
    assert r.status_code == 422 and r.json()["field"] == "header.GS1-Capture-Error-Behaviour"
    r = await env.client.post(url, json=doc, headers={**h, "Content-Type": "application/ld+json"})
    assert r.status_code == 202
    assert await _count(env, TraceCaptureJob) == 1
    # over the size limit: 413 before the document is read whole
    limit = env.settings.epcis_capture_max_bytes
    url = "/api/v1/epcis/capture"
    big = b'{"type": "EPCISDocument", "pad": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    r = await env.client.post(url, content=big, headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["field"] == "body"
    assert str(limit) in r.json()["detail"]
    assert r.headers["GS1-EPCIS-Capture-File-Size-Limit"] == str(limit)
    sent = 0

    async def stream() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        nonlocal sent
        for _ in range(50):
            sent += 1
            yield b" " * (1024 * 1024)

    r = await env.client.post(
        url, content=stream(), headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code == 413 and str(limit) in r.json()["detail"]
    assert sent < 50  # refused at the chunk that passed the limit
    assert await _count(env, TraceCaptureJob) == 1


async def test_county_isolation(env: ApiEnv) -> None:
    home = await env.headers(Role.COUNTY_ADMIN, HOME)
    other = await env.headers(Role.COUNTY_ADMIN, OTHER)
    pref = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    mine = await capture(env, document(object_event([lot_uri(G, "M1")])), home)
    theirs = await capture(env, document(object_event([lot_uri(G, "L1")])), other)
    # capture into another county's lots: 403 naming the field, nothing stored
    job = await capture(env, document(object_event([lot_uri(G, "L1")], biz_step="shipping")), home)
    assert job["success"] is False
    (error,) = job["errors"]
    assert (
        error["status"] == 403
        and error["field"] == "epcisBody.eventList[0].quantityList[0].epcClass"
    )
    # an event naming lots of two counties belongs to neither
    two = object_event([lot_uri(G, "M1"), lot_uri(G, "L1")], biz_step="receiving")
    job = await capture(env, document(two), pref)
    assert job["success"] is False and job["errors"][0]["field"].endswith(
        "quantityList[1].epcClass"
    )
    # another county's events are invisible: in queries, by id, by MATCH, their jobs
    assert _ids(await _query(env, home)) == mine["eventIDs"]
    assert _ids(await _query(env, home, MATCH_anyEPCClass=lot_uri(G, "L1"))) == []
    (their_id,) = theirs["eventIDs"]
    r = await env.client.get(f"/api/v1/epcis/events/{quote(their_id, safe='')}", headers=home)
    assert r.status_code == 404
    r = await env.client.get(f"/api/v1/epcis/capture/{theirs['captureID']}", headers=home)
    assert r.status_code == 404
    assert set(_ids(await _query(env, pref))) == {*mine["eventIDs"], their_id}
    # an event naming none of our lots takes the capturer's county (the prefecture's: 533100)
    partner = object_event([PARTNER], biz_step="receiving")
    job = await capture(env, document(partner), pref)
    assert job["success"], job
    assert job["eventIDs"][0] not in _ids(await _query(env, home))
    async with env.db.session() as s:
        county = await s.scalar(
            select(TraceEvent.county).where(TraceEvent.event_id == job["eventIDs"][0])
        )
    assert county == "533100"
    # an error declaration is a write in the declared event's county
    partner = object_event([PARTNER], biz_step="departing")
    job = await capture(env, document(partner), other)
    declared = {**partner, "eventID": job["eventIDs"][0],
                "errorDeclaration": {"declarationTime": "2026-11-22T10:00:00.000+08:00"}}  # fmt: skip
    job = await capture(env, document(declared), home)
    assert job["success"] is False and job["errors"][0]["status"] == 403
    assert job["errors"][0]["field"] == "epcisBody.eventList[0].errorDeclaration"
    assert (await capture(env, document(declared), other))["success"] is True
    # organisation roles capture for their own organisation's lots only
    async with env.db.session() as s:
        org = await s.scalar(select(TraceLot.org_id).where(TraceLot.lot == "M1"))
    assert org is not None
    own = await member(env, Role.OPERATOR, HOME, org)
    stranger = await member(env, Role.OPERATOR, HOME, org + 100)
    job = await capture(env, document(object_event([lot_uri(G, "M1")])), own)
    assert job["success"], job
    job = await capture(
        env, document(object_event([lot_uri(G, "M2")], biz_step="shipping")), stranger
    )
    assert job["success"] is False and job["errors"][0]["status"] == 403


async def test_query_parameters(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    e1 = object_event([lot_uri(G, "M1")], time="2026-11-20T08:00:00.000+08:00")
    e2 = object_event([lot_uri(G, "M2")], biz_step="shipping", action="OBSERVE",
                      time="2026-11-21T08:00:00.000+08:00", disposition="in_transit")  # fmt: skip
    e3 = {
        "type": "TransformationEvent", "eventTime": "2026-11-22T08:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00", "bizStep": "https://ref.gs1.org/cbv/BizStep-commissioning",
        "inputQuantityList": [{"epcClass": lot_uri(G, "M1"), "quantity": 10, "uom": "KGM"}],
        "outputQuantityList": [{"epcClass": lot_uri(G, "M2"), "quantity": 8, "uom": "KGM"}],
        "readPoint": place(9),
    }  # fmt: skip
    e4 = object_event(epcs=[f"https://id.gs1.org/01/{G}/10/M1/21/S1"], biz_step="inspecting",
                      action="OBSERVE", time="2026-11-23T08:00:00.000+08:00")  # fmt: skip
    job = await capture(env, document(e1, e2, e3, e4), h)
    assert job["success"], job
    i1, i2, i3, i4 = job["eventIDs"]
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"eventType": "TransformationEvent"}, [i3]),
        ({"eventType": "ObjectEvent", "EQ_action": "OBSERVE"}, [i2, i4]),
        ({"EQ_bizStep": "commissioning"}, [i1, i3]),  # bare word and CBV URI are one value
        ({"EQ_bizStep": "urn:epcglobal:cbv:bizstep:shipping"}, [i2]),
        ({"EQ_bizStep": "shipping|inspecting"}, [i2, i4]),  # the binding's separator
        ({"EQ_bizStep": "shipping,inspecting"}, [i2, i4]),
        ({"EQ_disposition": "in_transit"}, [i2]),
        ({"EQ_readPoint": "urn:epc:id:sgln:6901230.00000.0"}, []),
        ({"EQ_readPoint": place(9)["id"]}, [i3]),
        (
            {"GE_eventTime": "2026-11-21T00:00:00.000Z", "LT_eventTime": "2026-11-22T01:00:00Z"},
            [i2, i3],
        ),
        ({"MATCH_epcClass": lot_uri(G, "M2")}, [i2]),
        ({"MATCH_anyEPCClass": lot_uri(G, "M2")}, [i2, i3]),
        ({"MATCH_anyEPCClass": lot_urn(G, "M1")}, [i1, i3]),  # the EPC URN of the same lot
        ({"MATCH_anyEPCClass": f"https://shop.example.cn/01/{G}/10/M1"}, [i1, i3]),  # any domain
        ({"MATCH_inputEPCClass": lot_uri(G, "M1")}, [i3]),
        ({"MATCH_outputEPCClass": lot_uri(G, "M1")}, []),
        ({"MATCH_epc": f"https://id.gs1.org/01/{G}/10/M1/21/S1"}, [i4]),
        ({"MATCH_anyEPC": f"https://id.gs1.org/01/{G}/10/M1/21/S1"}, [i4]),
        ({"EQ_eventID": f"{i1},{i4}"}, [i1, i4]),
        ({"orderBy": "eventTime"}, [i4, i3, i2, i1]),
        ({"orderBy": "eventTime", "orderDirection": "ASC"}, [i1, i2, i3, i4]),
        ({"eventCountLimit": "2"}, [i1, i2]),
    ]
    for params, expected in cases:
        assert _ids(await _query(env, h, **params)) == expected, params
    for params, field, status in (
        ({"EQ_colour": "red"}, "query.EQ_colour", 501),
        ({"bogus": "1"}, "query.bogus", 422),
        ({"GE_eventTime": "yesterday"}, "query.GE_eventTime", 422),
        ({"perPage": "0"}, "query.perPage", 422),
        ({"WD_readPoint": place(9)["id"]}, "query.WD_readPoint", 501),
        ({"maxEventCount": "2"}, "query.maxEventCount", 413),
    ):
        r = await env.client.get("/api/v1/epcis/events", params=params, headers=h)
        assert r.status_code == status and r.json()["field"] == field, (params, r.text)


async def test_query_pages_by_next_page_token(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    events = [
        object_event([lot_uri(G, "M1")], time=f"2026-11-20T08:{m:02d}:00.000+08:00")
        for m in range(7)
    ]
    job = await capture(env, document(*events), h)
    for params in ({}, {"orderBy": "eventTime"}, {"MATCH_anyEPCClass": lot_uri(G, "M1")}):
        url: str | None = "/api/v1/epcis/events?" + "&".join(
            [f"{k}={quote(v, safe='')}" for k, v in params.items()] + ["perPage=3"]
        )
        seen: list[str] = []
        pages = 0
        while url is not None:
            r = await env.client.get(url, headers=h)
            assert r.status_code == 200, r.text
            page = r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            assert len(page) <= 3
            seen += _ids(page)
            pages += 1
            m = LINK.search(r.headers.get("link", ""))
            url = m.group(1) if m else None
        expected = job["eventIDs"][::-1] if params.get("orderBy") else job["eventIDs"]
        assert seen == expected and pages == 3, params
    # a token is bound to its query
    r = await env.client.get("/api/v1/epcis/events", params={"perPage": 3}, headers=h)
    token = re.search(r"nextPageToken=([^&>]+)", r.headers["link"]).group(1)  # type: ignore[union-attr]
    r = await env.client.get("/api/v1/epcis/events",
                             params={"nextPageToken": token, "EQ_bizStep": "shipping"}, headers=h)  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "query.nextPageToken"


async def test_a_document_naming_hundreds_of_lots_checks_each_and_writes_every_identifier(
    env: ApiEnv,
) -> None:
    """600 lots (more than one SQLite chunk of keys; one array on PostgreSQL): an
    unknown one among them refuses the document naming its field; then every event is
    stored with its own identifiers (events and identifiers are written in one
    statement on PostgreSQL: each identifier must land on its event's row)."""
    async with env.db.transaction() as s:
        org_id = await s.scalar(select(TraceLot.org_id).where(TraceLot.lot == "M1"))
        s.add_all(
            TraceLot(gtin=G, lot=f"B{n}", county=HOME, org_id=org_id, created_by="test")
            for n in range(600)
        )
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    events = [
        object_event(
            [lot_uri(G, f"B{6 * i + k}") for k in range(6)],
            event_id=f"urn:uuid:6d1b5e3a-0002-4000-8000-{i:012d}",
            biz_step="storing",
            action="OBSERVE",
        )
        for i in range(100)
    ]
    wrong = copy.deepcopy(events)
    wrong[57]["quantityList"][4]["epcClass"] = lot_uri(G, "B600")  # not registered
    job = await capture(env, document(*wrong), h)
    assert job["success"] is False and job["eventIDs"] == []
    assert [e["field"] for e in job["errors"]] == [
        "epcisBody.eventList[57].quantityList[4].epcClass"
    ]
    assert "'B600'" in job["errors"][0]["detail"]
    assert await _count(env) == 0 and await _count(env, TraceEventObject) == 0

    job = await capture(env, document(*events), h)
    assert job["success"] is True, job["errors"]
    assert job["eventIDs"] == [e["eventID"] for e in events]
    async with env.db.session() as s:
        rows = (
            await s.execute(
                select(TraceEvent.event_id, TraceEventObject.lot, TraceEventObject.role)
                .join(TraceEventObject, TraceEventObject.event_seq == TraceEvent.seq)
                .order_by(TraceEventObject.id)
            )
        ).all()
        seqs = list(await s.scalars(select(TraceEvent.seq).order_by(TraceEvent.seq)))
    assert len(rows) == 600
    named: dict[str, list[str]] = {}
    for event_id, lot, role in rows:
        assert role == "quantity"
        named.setdefault(event_id, []).append(lot)
    assert named == {
        e["eventID"]: [f"B{6 * i + k}" for k in range(6)] for i, e in enumerate(events)
    }
    # stored in document order (seq), as the query interface pages them
    r = await env.client.get("/api/v1/epcis/events", params={"perPage": 100}, headers=h)
    got = r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert _ids(got) == job["eventIDs"] and seqs == sorted(seqs)
    # the log has a leaf for each, as stored
    leaves = await _leaves(env)
    for e in got:
        assert leaves[e["eventID"]] == leaf_hash(canonical_json(e))


@pytest.mark.parametrize("inline_up_to", [0, 1000])
async def test_validation_on_the_loop_or_in_a_thread_refuses_alike(
    env: ApiEnv, monkeypatch: pytest.MonkeyPatch, inline_up_to: int
) -> None:
    """A small document is validated on the event loop, a large one in a worker thread
    (capture.VALIDATE_INLINE_EVENTS): the same errors either way."""
    monkeypatch.setattr(capture_jobs, "VALIDATE_INLINE_EVENTS", inline_up_to)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    good = object_event([lot_uri(G, "M1")])
    bad = object_event([lot_uri(G, "M2")], biz_step="no_such_step")
    job = await capture(env, document(good, bad), h)
    assert job["success"] is False
    assert [e["field"] for e in job["errors"]] == ["epcisBody.eventList[1].bizStep"]
    assert await _count(env) == 0
    job = await capture(env, document(good), h)
    assert job["success"] is True and await _count(env) == 1
