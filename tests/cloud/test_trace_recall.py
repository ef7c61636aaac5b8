"""cloud/trace/recall: forward and backward through merges, splits, packing into cases
and pallets and registered parents; cycle-safe, depth-limited, events declared in
error left out, county-scoped; last custody and certificates; JSON and CSV; on SQLite
and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloud.auth.principal import Principal, Role
from cloud.catalog.storage import Location
from cloud.db import utcnow
from cloud.trace.certificates.kinds import beijing_date
from cloud.trace.events.service import store_events
from cloud.trace.lots.storage import TraceLot, TraceLotParent
from cloud.trace.recall.service import as_csv
from tests.support.api import HOME, OTHER, ApiEnv, api_env
from tests.support.epcis import DL, gln, gtin, lot_uri, object_event, place, sscc
from tests.support.trace_records import add_lot, add_org, add_product

GA, GC = gtin(701), gtin(702)  # cherries, green beans
CASE, PALLET = f"{DL}/00/{sscc(11)}", f"{DL}/00/{sscc(12)}"
T = "2026-11-{day:02d}T08:00:00.000+08:00"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


def _q(g: str, lot: str) -> dict[str, Any]:
    return {"epcClass": lot_uri(g, lot), "quantity": 100, "uom": "KGM"}


def _transform(day: int, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]],
               **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "type": "TransformationEvent", "eventTime": T.format(day=day),
        "eventTimeZoneOffset": "+08:00", "bizStep": "commissioning",
        "inputQuantityList": [_q(*x) for x in inputs],
        "outputQuantityList": [_q(*x) for x in outputs], **extra,
    }  # fmt: skip


def _pack(day: int, parent: str, **children: Any) -> dict[str, Any]:
    return {
        "type": "AggregationEvent", "eventTime": T.format(day=day),
        "eventTimeZoneOffset": "+08:00", "parentID": parent, "action": "ADD",
        "bizStep": "packing", "readPoint": place(3), **children,
    }  # fmt: skip


async def _store(env: ApiEnv, county: str, *events: dict[str, Any]) -> list[str]:
    principal = Principal("user", "admin", Role.COUNTY_ADMIN, county)
    async with env.db.transaction() as s:
        return [x.event_id for x in await store_events(s, list(events), principal)]


async def _history(env: ApiEnv) -> dict[str, str]:
    """Cherries A and B merged into green beans C, split into D and E; D packed into a case,
    the case onto a pallet, the pallet shipped; F registered as made from E; a mis-keyed
    transformation makes A from E (a cycle); one declared in error makes X from D."""
    org, other = await add_org(env, HOME, 1), await add_org(env, OTHER, 2)
    await add_product(env, org, GC, "coffee", "芒市小粒咖啡生豆")
    for g, lots in ((GA, "AB"), (GC, "CDEX")):
        for n in lots:
            await add_lot(env, org, g, n)
    await add_lot(env, org, GC, "F", parents=((GC, "E"),))
    await add_lot(env, other, GC, "Y")
    async with env.db.transaction() as s:  # a prefecture admin's cross-county registration
        ids = {x.lot: x.id for x in await s.scalars(select(TraceLot))}
        s.add(TraceLotParent(lot_id=ids["Y"], parent_id=ids["A"]))
        s.add(Location(kind="cold_room", name="芒市冷库 1 号", county=HOME, gln=gln(9),
                       gln_extension="", created_by="test"))  # fmt: skip
    ship = object_event(
        None,
        epcs=[PALLET],
        biz_step="shipping",
        action="OBSERVE",
        time=T.format(day=9),
        disposition="in_transit",
        bizLocation=place(9),
        destinationList=[{"type": "owning_party", "destination": f"{DL}/417/{gln(77)}"}],
    )
    declared = _transform(8, [(GC, "D")], [(GC, "X")])
    ids = await _store(
        env, HOME,
        _transform(2, [(GA, "A"), (GA, "B")], [(GC, "C")]),
        _transform(3, [(GC, "C")], [(GC, "D"), (GC, "E")]),
        _pack(4, CASE, childQuantityList=[_q(GC, "D")]),
        _pack(5, PALLET, childEPCs=[CASE]),
        ship,
        _transform(6, [(GC, "E")], [(GA, "A")]),
        declared,
    )  # fmt: skip
    declaration = {"declarationTime": "2026-11-10T08:00:00.000+08:00", "reason": "incorrect_data"}
    await _store(env, HOME, {**declared, "eventID": ids[-1], "errorDeclaration": declaration})
    today = beijing_date(utcnow())
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post("/api/v1/trace/certificates", headers=h, json={
        "type": "green_food", "number": "LB-GC", "holder_uscc": org.uscc, "products": [GC],
        "valid_from": str(today - timedelta(days=1)), "valid_to": str(today + timedelta(days=1)),
        "issuer": "中国绿色食品发展中心"})  # fmt: skip
    assert r.status_code == 201, r.text
    r = await env.client.post(f"/api/v1/trace/lots/{GC}/D/commitment-certificates",
                              json={"basis": "self_test", "origin": "芒市"}, headers=h)  # fmt: skip
    assert r.status_code == 201, r.text
    return {"merge": ids[0], "split": ids[1], "case": ids[2], "pallet": ids[3], "ship": ids[4],
            "cycle": ids[5], "number": r.json()["number"]}  # fmt: skip


def _key(item: dict[str, Any]) -> str:
    return item["lot"] if item["kind"] == "lot" else item["uri"]


async def test_recall_follows_merges_splits_packing_and_registration(env: ApiEnv) -> None:
    ev = await _history(env)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.get(f"/api/v1/trace/lots/{GA}/A/forward", headers=h)
    assert r.status_code == 200, r.text
    fwd = r.json()
    assert fwd["direction"] == "forward" and fwd["truncated"] is False
    depth = {_key(i): i["depth"] for i in fwd["items"]}
    # X: only through an event declared in error; Y: another county's lot
    assert depth == {"A": 0, "C": 1, "D": 2, "E": 2, CASE: 3, "F": 3, PALLET: 4}
    items = {_key(i): i for i in fwd["items"]}
    assert items["C"]["via"] == {"kind": "transformation", "event_id": ev["merge"],
                                 "from": lot_uri(GA, "A")}  # fmt: skip
    assert items["F"]["via"] == {"kind": "registration", "event_id": None, "from": lot_uri(GC, "E")}
    assert items[PALLET]["via"]["event_id"] == ev["pallet"] and items[PALLET]["kind"] == "object"
    # last custody: the pallet was shipped to its receiver from a known cold room
    last = items[PALLET]["last_custody"]
    assert last["event_id"] == ev["ship"] and last["biz_step"] == "shipping"
    assert last["disposition"] == "in_transit" and last["biz_location_name"] == "芒市冷库 1 号"
    assert last["destinations"] == [{"type": "owning_party", "id": f"{DL}/417/{gln(77)}"}]
    assert items["D"]["last_custody"]["event_id"] == ev["case"]  # packed: its last event
    assert items["F"]["last_custody"] is None  # registered, no event yet
    # certificates of each lot: the green food certificate covers GC's lots; D has its 合格证
    assert [c["number"] for c in items["C"]["certificates"]] == ["LB-GC"]
    assert items["C"]["certificates"][0]["valid_now"] is True
    assert items["A"]["certificates"] == [] and items[CASE]["certificates"] == []
    assert [c["number"] for c in items["D"]["commitment_certificates"]] == [ev["number"]]
    assert items["C"]["commitment_certificates"] == []

    # backward from D: split from C, merged from A and B; A was (mis-keyed) made from E
    r = await env.client.get(f"/api/v1/trace/lots/{GC}/D/backward", headers=h)
    back = {_key(i): i["depth"] for i in r.json()["items"]}
    assert back == {"D": 0, "C": 1, "A": 2, "B": 2, "E": 3}
    # backward from the pallet's contents: the case's child D and its sources
    r = await env.client.get(f"/api/v1/trace/lots/{GC}/F/backward", headers=h)
    assert {_key(i) for i in r.json()["items"]} == {"F", "E", "C", "A", "B"}

    # the depth limit says when it stopped the walk
    r = await env.client.get(f"/api/v1/trace/lots/{GA}/A/forward", params={"depth": 2}, headers=h)
    assert r.json()["truncated"] is True and r.json()["depth_limit"] == 2
    assert {_key(i) for i in r.json()["items"]} == {"A", "C", "D", "E"}
    r = await env.client.get(f"/api/v1/trace/lots/{GA}/A/forward", params={"depth": 5}, headers=h)
    assert r.json()["truncated"] is False
    for params, field in (({"depth": 0}, "query.depth"), ({"depth": 21}, "query.depth"),
                          ({"format": "xml"}, "query.format")):  # fmt: skip
        r = await env.client.get(f"/api/v1/trace/lots/{GA}/A/forward", params=params, headers=h)
        assert r.status_code == 422 and r.json()["field"] == field
    r = await env.client.get(f"/api/v1/trace/lots/{GA}1/A/forward", headers=h)
    assert r.status_code == 422 and r.json()["field"] == "path.gtin"

    # CSV: ?format=csv or Accept: text/csv, one row per node
    for kwargs in ({"params": {"format": "csv"}, "headers": h},
                   {"headers": {**h, "Accept": "text/csv"}}):  # fmt: skip
        r = await env.client.get(f"/api/v1/trace/lots/{GA}/A/forward", **kwargs)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(r.text.removeprefix("\ufeff"))))
        assert [(x["lot"] or x["uri"]) for x in rows] == [_key(i) for i in fwd["items"]]
        pallet = next(x for x in rows if x["uri"] == PALLET)
        assert (
            pallet["last_biz_step"] == "shipping"
            and pallet["last_biz_location_name"] == "芒市冷库 1 号"
        )
        assert next(x for x in rows if x["lot"] == "C")["certificates"] == "green_food:LB-GC"

    # county-scoped: another county's lot is 404; the prefecture follows every county
    r = await env.client.get(f"/api/v1/trace/lots/{GC}/Y/forward", headers=h)
    assert r.status_code == 404
    pref = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.get(f"/api/v1/trace/lots/{GA}/A/forward", headers=pref)
    assert {_key(i) for i in r.json()["items"]} >= {"Y"}
    other = await env.headers(Role.COUNTY_ADMIN, OTHER)
    r = await env.client.get(f"/api/v1/trace/lots/{GC}/Y/backward", headers=other)
    assert {_key(i) for i in r.json()["items"]} == {"Y"}  # its HOME parent is not followed


def test_csv_cells_cannot_start_a_formula() -> None:
    answer = {"direction": "forward", "items": [{
        "depth": 0, "kind": "lot", "gtin": "06901234000017", "lot": "=1+1", "uri": "u",
        "registered": True, "county": HOME, "via": None, "last_custody": None,
        "certificates": [], "commitment_certificates": []}]}  # fmt: skip
    (row,) = list(csv.DictReader(io.StringIO(as_csv(answer).removeprefix("\ufeff"))))
    assert row["lot"] == "'=1+1"
