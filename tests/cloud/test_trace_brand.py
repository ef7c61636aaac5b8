"""Test results (dh:testResult on sampling and inspecting events, from our own test
operation and from EPCIS capture), camera inspections attached to lots, and 德宏品牌
admission: rules as data, a lot gaining the brand and losing it (a failed test, an
expired certificate, a rule whose evidence does not exist yet) with the history kept;
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cloud.auth.principal import Role
from cloud.db import utcnow
from cloud.inspections.storage import InspectionRecord
from cloud.timeseries.windows import MINUTE_MS
from cloud.trace.brand import service as brand_service
from cloud.trace.brand.cli import sweep as cli_sweep
from cloud.trace.brand.rules import DEFAULT_RULES, ColdChainRule, RulesError, check_rules
from cloud.trace.brand.storage import BrandDecision
from cloud.trace.certificates.kinds import beijing_date
from cloud.trace.custody import service as custody_service
from cloud.trace.epcis.documents import DH_NS
from cloud.trace.events.service import store_events
from cloud.trace.lots.storage import TraceLot
from cloud.trace.results.extension import ResultError, parse_results
from cloud.trace.results.storage import TraceTestResult
from tests.cloud import custody_support as cs
from tests.support.api import HOME, OTHER, ApiEnv, api_env
from tests.support.epcis import capture, document, gtin, lot_uri, lot_urn, object_event
from tests.support.trace_records import add_base, add_lot, add_org, add_product

COFFEE = gtin(601)
PREF = "533100"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


def _event(results: Any, biz_step: str = "inspecting", prefix: str = "dh") -> dict[str, Any]:
    return {"bizStep": biz_step, f"{prefix}:testResult": results}


def test_test_results_are_parsed_and_bad_ones_name_the_field() -> None:
    ctx = [{"dh": DH_NS}]
    (r,) = parse_results(_event([{"dh:test": "pesticide_residue", "dh:analyte": "毒死蜱",
                                  "dh:value": 0.01, "dh:unit": "mg/kg", "dh:limit": 0.05}]),
                         "e", ctx)  # fmt: skip
    assert r.passed and r.limit_max == 0.05 and r.analyte == "毒死蜱"
    (r,) = parse_results(_event({"dh:test": "moisture", "dh:value": 13.1, "dh:min": 10,
                                 "dh:limit": 12.5}), "e", ctx)  # fmt: skip
    assert r.passed is False
    (r,) = parse_results(_event({"x:test": "rapid_residue", "x:passed": True}, prefix="x"), "e",
                         [{"x": DH_NS}])  # fmt: skip
    assert r.passed and r.test == "rapid_residue"
    assert parse_results({"bizStep": "inspecting", "other:testResult": 1}, "e", ctx) == []
    for event, field in (
        (_event([{"dh:test": "x", "dh:value": 1, "dh:limit": 0.5, "dh:passed": True}]),
         "e.dh:testResult[0].dh:passed"),
        (_event([{"dh:test": "x"}]), "e.dh:testResult[0].dh:passed"),
        (_event([{"dh:test": "X Y", "dh:passed": True}]), "e.dh:testResult[0].dh:test"),
        (_event([{"dh:passed": True}]), "e.dh:testResult[0].dh:test"),
        (_event([{"dh:test": "x", "dh:value": "1", "dh:limit": 2}]), "e.dh:testResult[0].dh:value"),
        (_event([{"dh:test": "x", "dh:limit": 2}]), "e.dh:testResult[0].dh:value"),
        (_event([{"dh:test": "x", "dh:passed": True, "dh:colour": "red"}]),
         "e.dh:testResult[0].dh:colour"),
        (_event([{"dh:test": "x", "dh:passed": True, "dh:method": "guess"}]),
         "e.dh:testResult[0].dh:method"),
        (_event([{"dh:test": "x", "dh:value": 1, "dh:min": 3, "dh:limit": 2}]),
         "e.dh:testResult[0].dh:min"),
        (_event([]), "e.dh:testResult"),
        (_event([{"dh:test": "x", "dh:passed": True}], biz_step="shipping"), "e.dh:testResult"),
    ):  # fmt: skip
        with pytest.raises(ResultError) as exc:
            parse_results(event, "e", ctx)
        assert exc.value.path == field, (event, exc.value)


def test_rules_are_data_and_bad_rules_name_the_field() -> None:
    assert [r.kind for r in check_rules(DEFAULT_RULES)] == [r["kind"] for r in DEFAULT_RULES]
    for raw, field in (
        ([], "rules"),
        ([{"kind": "certificate", "type": "green"}], "rules[0].type"),
        ([{"kind": "certificate", "type": "organic"}, {"kind": "x"}], "rules[1].kind"),
        ([{"kind": "test_passed_within_days", "test": "pesticide_residue", "days": 0}],
         "rules[0].days"),
        ([{"kind": "camera_grade_at_least", "grade": "G9"}], "rules[0].grade"),
        ([{"kind": "camera_grade_at_least", "grade": "A", "scale": "abc"}], "rules[0].scale"),
        ([{"kind": "cold_chain_compliant", "categories": ["fruit"]}], "rules[0].categories[0]"),
        ([{"kind": "commitment_certificate", "extra": 1}], "rules[0].extra"),
    ):  # fmt: skip
        with pytest.raises(RulesError) as exc:
            check_rules(raw)
        assert exc.value.field == field, (raw, exc.value)


async def _inspection(env: ApiEnv, county: str, lot: str | None, grade: str | None, n: int) -> None:
    ts = utcnow() - timedelta(minutes=60 - n)
    async with env.db.transaction() as s:
        s.add(
            InspectionRecord(
                gateway_id="gw-m1", event_id=f"insp-{county}-{n}", county=county, site="s",
                device="gw-m1.cam-1", ts=ts, program="coffee_green", lot=lot, usable=True,
                grade=grade, counts={}, measurements={}, image_sha256="a" * 64,
                ts_ms=int(ts.timestamp() * 1000),
            )
        )  # fmt: skip


def _results(*analytes: tuple[str, float]) -> list[dict[str, Any]]:
    return [{"test": "pesticide_residue", "analyte": a, "value": v, "unit": "mg/kg",
             "limit": 0.05, "method": "lab", "standard": "GB 2763-2021"} for a, v in analytes]  # fmt: skip


async def test_test_results_come_from_events_and_inspections_attach_to_lots(env: ApiEnv) -> None:
    org, other = await add_org(env, HOME, 1), await add_org(env, OTHER, 2)
    await add_product(env, org, COFFEE, "coffee", "芒市小粒咖啡")
    await add_lot(env, org, COFFEE, "K1")
    await add_lot(env, org, COFFEE, "K2")
    await add_lot(env, other, gtin(602), "K1")
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    url = f"/api/v1/trace/lots/{COFFEE}/K1/tests"
    body = {"biz_step": "sampling", "read_point_gln": "6901234000016",
            "results": _results(("毒死蜱", 0.01), ("多菌灵", 0.2))}  # fmt: skip
    r = await env.client.post(url, json=body, headers=h)
    assert r.status_code == 201, r.text
    recorded = r.json()
    assert [x["passed"] for x in recorded["results"]] == [True, False]
    assert recorded["event_id"].startswith("ni:///sha-256;")
    # the event itself carries them, as an EPCIS extension with its @context
    r = await env.client.get("/api/v1/epcis/events", params={"MATCH_anyEPCClass": lot_uri(COFFEE, "K1")},
                             headers=h)  # fmt: skip
    doc = r.json()
    (event,) = doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert {"dh": DH_NS} in doc["@context"] and event["bizStep"] == "sampling"
    assert event["dh:testResult"][1] == {
        "dh:test": "pesticide_residue", "dh:analyte": "多菌灵", "dh:value": 0.2,
        "dh:unit": "mg/kg", "dh:limit": 0.05, "dh:method": "lab",
        "dh:standard": "GB 2763-2021", "dh:passed": False,
    }  # fmt: skip
    # a partner's capture, its own prefix for our namespace, a qualitative rapid test
    partner = object_event([lot_uri(COFFEE, "K1")], biz_step="inspecting", action="OBSERVE",
                           **{"dehong:testResult": [{"dehong:test": "moisture", "dehong:value": 11.5,
                                                     "dehong:unit": "%", "dehong:limit": 12.5}]})  # fmt: skip
    job = await capture(env, document(partner, context=[{"dehong": DH_NS}]), h)
    assert job["success"], job
    (partner_id,) = job["eventIDs"]
    bad = object_event([lot_uri(COFFEE, "K2")], biz_step="shipping",
                       **{"dh:testResult": [{"dh:test": "moisture", "dh:passed": True}]})  # fmt: skip
    job = await capture(env, document(bad, context=[{"dh": DH_NS}]), h)
    assert (
        job["success"] is False
        and job["errors"][0]["field"] == "epcisBody.eventList[0].dh:testResult"
    )
    r = await env.client.get(url, headers=h)
    assert [(x["test"], x["passed"]) for x in r.json()["items"]] == [
        ("moisture", True), ("pesticide_residue", False), ("pesticide_residue", True),
    ]  # fmt: skip
    r = await env.client.get(url, params={"test": "moisture", "limit": 1}, headers=h)
    assert [x["value"] for x in r.json()["items"]] == [11.5]
    # declared in error: its results no longer count
    declared = {**partner, "eventID": partner_id, "errorDeclaration": {
        "declarationTime": "2026-11-21T08:00:00.000+08:00", "reason": "incorrect_data"}}  # fmt: skip
    job = await capture(env, document(declared, context=[{"dehong": DH_NS}]), h)
    assert job["success"], job
    r = await env.client.get(url, params={"test": "moisture"}, headers=h)
    assert r.json()["items"] == []
    assert (await env.client.get(f"/api/v1/trace/lots/{COFFEE}/K2/tests", headers=h)).json() == {
        "items": []
    }
    # bad input names the field
    for change, field in (
        ({"results": [{"test": "x", "value": 1.0, "limit": 0.5, "passed": True}]}, "body.results[0].passed"),
        ({"results": [{"test": "x"}]}, "body.results[0].passed"),
        ({"results": [{"test": "Bad Code", "passed": True}]}, "body.results[0].test"),
        ({"results": []}, "body.results"),
        ({"time": "2026-11-20T08:00:00"}, "body.time"),
        ({"biz_step": "shipping"}, "body.biz_step"),
        ({"read_point_gln": "6901234000017"}, "body.read_point_gln"),
    ):  # fmt: skip
        r = await env.client.post(url, json={**body, **change}, headers=h)
        assert r.status_code == 422 and r.json()["field"] == field, (change, r.text)
    async with env.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(TraceTestResult)) == 3

    # camera inspections name a lot by Digital Link, URN or bare number (in the county)
    await _inspection(env, HOME, lot_uri(COFFEE, "K1"), "G1", 1)
    await _inspection(env, HOME, "K1", "G2", 2)
    await _inspection(env, HOME, lot_urn(COFFEE, "K1"), "G3", 3)
    await _inspection(env, HOME, "K12", "G1", 4)
    await _inspection(env, HOME, lot_uri(COFFEE, "K2"), "G1", 5)
    await _inspection(env, OTHER, "K1", "G1", 6)
    r = await env.client.get(f"/api/v1/trace/lots/{COFFEE}/K1/inspections", headers=h)
    assert [(i["lot"], i["grade"]) for i in r.json()["items"]] == [
        (lot_urn(COFFEE, "K1"), "G3"), ("K1", "G2"), (lot_uri(COFFEE, "K1"), "G1"),
    ]  # fmt: skip


async def _brand(env: ApiEnv, h: dict[str, str], lot: str = "B1") -> dict[str, Any]:
    r = await env.client.get(f"/api/v1/trace/lots/{COFFEE}/{lot}/brand", headers=h)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _states(answer: dict[str, Any]) -> list[str]:
    return [s["state"] for s in answer["rules"]]


async def test_a_lot_gains_the_brand_and_loses_it_with_the_reason_kept(
    env: ApiEnv, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    org = await add_org(env, HOME, 1)
    await add_product(env, org, COFFEE, "coffee", "芒市小粒咖啡")
    base = await add_base(env, org, "芒市咖啡基地")
    await add_lot(env, org, COFFEE, "B1", base_id=base)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    pref = await env.headers(Role.PREFECTURE_ADMIN, PREF)
    r = await env.client.get("/api/v1/trace/brand/rules", headers=h)
    assert r.json()["version"] == 1 and r.json()["rules"] == DEFAULT_RULES
    rules = [
        {"kind": "certificate", "type": "green_food"},
        {"kind": "commitment_certificate"},
        {"kind": "test_passed_within_days", "test": "pesticide_residue", "days": 30},
        {"kind": "camera_grade_at_least", "grade": "G2", "scale": "g"},
        {"kind": "cold_chain_compliant", "categories": ["fruit_mango"]},
    ]
    r = await env.client.put("/api/v1/trace/brand/rules", json={"rules": rules}, headers=h)
    assert r.status_code == 403  # the brand is the prefecture's
    r = await env.client.put("/api/v1/trace/brand/rules", json={"rules": [{"kind": "test_passed_within_days",
                             "test": "x", "days": 0}]}, headers=pref)  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "body.rules[0].days"
    r = await env.client.put("/api/v1/trace/brand/rules", json={"rules": rules, "note": "v2"},
                             headers=pref)  # fmt: skip
    assert r.status_code == 200 and r.json()["version"] == 2

    first = await _brand(env, h)
    assert first["granted"] is False and first["ruleset_version"] == 2
    assert _states(first) == ["not_met", "not_met", "not_met", "not_met", "not_applicable"]
    assert first["rules"][0]["detail"] == "no 绿色食品 certificate covers this lot"
    assert [(d["granted"], d["trigger"]) for d in first["history"]] == [(False, "read")]
    assert (await _brand(env, h))["history"] == first["history"]  # no flip, no new decision

    today = beijing_date(utcnow())
    cert = {"type": "green_food", "number": "LB-B1", "holder_uscc": org.uscc,
            "products": [COFFEE], "valid_from": str(today - timedelta(days=30)),
            "valid_to": str(today + timedelta(days=1)), "issuer": "中国绿色食品发展中心"}  # fmt: skip
    r = await env.client.post(f"/api/v1/trace/lots/{COFFEE}/B1/commitment-certificates",
                              json={"basis": "commissioned_test"}, headers=h)  # fmt: skip
    assert r.status_code == 201
    await _inspection(env, HOME, lot_uri(COFFEE, "B1"), "G1", 1)
    r = await env.client.post(f"/api/v1/trace/lots/{COFFEE}/B1/tests",
                              json={"results": _results(("毒死蜱", 0.01))}, headers=h)  # fmt: skip
    assert r.status_code == 201
    # the certificate is the last piece: registering it re-evaluates the lot
    r = await env.client.post("/api/v1/trace/certificates", json=cert, headers=h)
    assert r.status_code == 201
    granted = await _brand(env, h)
    assert granted["granted"] is True, granted["rules"]
    assert _states(granted) == ["met", "met", "met", "met", "not_applicable"]
    assert granted["rules"][0]["evidence"]["certificates"][0]["number"] == "LB-B1"
    assert granted["rules"][2]["evidence"]["results"][0]["analyte"] == "毒死蜱"
    assert granted["rules"][3]["evidence"]["grade"] == "G1"
    assert [(d["granted"], d["trigger"]) for d in granted["history"]] == [
        (True, "certificate"), (False, "read"),
    ]  # fmt: skip

    # a later failing test loses it at once, the reason kept
    r = await env.client.post(f"/api/v1/trace/lots/{COFFEE}/B1/tests",
                              json={"results": _results(("多菌灵", 0.3))}, headers=h)  # fmt: skip
    assert r.status_code == 201
    lost = await _brand(env, h)
    assert lost["granted"] is False and lost["rules"][2]["state"] == "not_met"
    assert [(d["granted"], d["trigger"]) for d in lost["history"]][:2] == [
        (False, "event"), (True, "certificate"),
    ]  # fmt: skip
    assert (
        "多菌灵" in lost["decision"]["reason"]
        and "test_passed_within_days" in lost["decision"]["reason"]
    )
    # a passing retest regains it
    await env.client.post(f"/api/v1/trace/lots/{COFFEE}/B1/tests",
                          json={"results": _results(("多菌灵", 0.01))}, headers=h)  # fmt: skip
    assert (await _brand(env, h))["granted"] is True

    # the certificate expires: noticed by the daily sweep (no reader needed) ...
    later = utcnow() + timedelta(days=3)
    monkeypatch.setattr(brand_service, "utcnow", lambda: later)
    r = await env.client.post("/api/v1/trace/brand/sweep", headers=h)
    assert r.status_code == 200 and r.json() == {"looked_at": 1, "decisions": 1}
    async with env.db.session() as s:
        last = await s.scalar(select(BrandDecision).order_by(BrandDecision.id.desc()).limit(1))
        assert last is not None and last.granted is False and last.trigger == "sweep"
        assert "LB-B1" in last.reason and "expired on" in last.reason
    # ... and at the first read after the expiry (lazily)
    monkeypatch.undo()
    back = await _brand(env, h)  # today the certificate is valid again: it flips back
    assert back["granted"] is True and back["history"][0]["trigger"] == "read"
    # the daily job (dehong trace brand-sweep) records it too
    monkeypatch.setattr(brand_service, "utcnow", lambda: utcnow() + timedelta(days=5))
    assert await cli_sweep(None, env.settings.database_url) == 0
    assert json.loads(capsys.readouterr().out) == {"looked_at": 1, "decisions": 1}
    assert await cli_sweep(PREF, env.settings.database_url) == 2  # one county, or all
    monkeypatch.undo()
    assert (await _brand(env, h))["granted"] is True

    # a rule whose evidence does not exist yet is unknown, never met
    rules[4] = {"kind": "cold_chain_compliant"}
    r = await env.client.put("/api/v1/trace/brand/rules", json={"rules": rules}, headers=pref)
    assert r.json()["version"] == 3
    unknown = await _brand(env, h)
    assert unknown["granted"] is False and _states(unknown)[4] == "unknown"
    assert "no evidence yet" in unknown["rules"][4]["detail"]
    assert (
        unknown["decision"]["ruleset_version"] == 3 and "unknown" in unknown["decision"]["reason"]
    )
    history = [(d["granted"], d["trigger"]) for d in unknown["history"]]
    assert history == [(False, "read"), (True, "read"), (False, "sweep"), (True, "read"),
                       (False, "sweep"), (True, "event"), (False, "event"), (True, "certificate"),
                       (False, "read")]  # fmt: skip
    audit = (await env.client.get("/api/v1/audit", headers=pref)).json()
    assert {"brand.rules_set", "brand.swept"} <= {e["action"] for e in audit}


async def test_cold_chain_rule_is_unknown_without_evidence_and_fails_on_any_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cloud.trace.brand import evaluate

    facts = evaluate.LotFacts(TraceLot(gtin=COFFEE, lot="X", county=HOME), "coffee", False)
    intervals: list[dict[str, Any]] | None = None

    async def evidence(_session: Any, _lot: Any) -> list[dict[str, Any]] | None:
        return intervals

    monkeypatch.setattr(evaluate, "cold_chain_evidence", evidence)
    cold = ColdChainRule(kind="cold_chain_compliant")
    every = ColdChainRule(kind="cold_chain_compliant", places="all")
    state, detail, _ = await evaluate._cold_chain(None, facts, cold)  # type: ignore[arg-type]
    assert state == "unknown" and "no evidence yet" in detail
    intervals = [
        {"place": "room-1", "start": "2026-11-20T08:00:00Z", "status": "pass",
         "kind": "cold_room", "measured": True},
        {"place": "truck-3", "start": "2026-11-21T08:00:00Z", "status": "pass",
         "kind": "vehicle_compartment", "measured": True},
    ]  # fmt: skip
    assert (await evaluate._cold_chain(None, facts, cold))[0] == "met"  # type: ignore[arg-type]
    for status in ("excursion", "insufficient_data", "no_devices"):
        intervals[1]["status"] = status
        state, detail, _ = await evaluate._cold_chain(None, facts, cold)  # type: ignore[arg-type]
        assert state == "not_met" and f"truck-3 from 2026-11-21T08:00:00Z: {status}" in detail
    # an unmeasured drying yard is not cold chain: left out unless places=all; an
    # unmeasured truck, or a place not in our catalog, is judged (a gap, never compliant)
    intervals[1] = {"place": "yard", "start": "2026-11-21T08:00:00Z", "status": "no_devices",
                    "kind": "processing_site", "measured": False}  # fmt: skip
    state, detail, ev = await evaluate._cold_chain(None, facts, cold)  # type: ignore[arg-type]
    assert state == "met" and "1 at unmeasured places" in detail and ev["not_judged"]
    assert (await evaluate._cold_chain(None, facts, every))[0] == "not_met"  # type: ignore[arg-type]
    for kind in ("vehicle_compartment", None):
        intervals[1]["kind"] = kind
        assert (await evaluate._cold_chain(None, facts, cold))[0] == "not_met"  # type: ignore[arg-type]


async def test_cold_chain_rule_reads_custody_evidence_from_the_time_series(env: ApiEnv) -> None:
    """A lot stored in a measured cold room: the rule is not met while its custody
    interval has no evidence, met once the evidence computed from the room's readings
    passes; another lot whose room had a 20-minute excursion is not met, the reason
    naming the room and the status."""
    pref = await env.headers(Role.PREFECTURE_ADMIN, PREF)
    r = await env.client.put("/api/v1/trace/brand/rules",
                             json={"rules": [{"kind": "cold_chain_compliant"}]}, headers=pref)  # fmt: skip
    assert r.status_code == 200, r.text
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    outcomes = {}
    for n, excursion in ((31, False), (32, True)):
        w = await cs.make_world(env.db, n=n)
        # commissioned into room A at +5 min, moved to warehouse B at +3 h 40 min (still there)
        async with env.db.transaction() as s:
            await store_events(s, [cs.event(w, 5, "commissioning", "A", action="ADD"),
                                   cs.event(w, 220, "receiving", "B")], cs.admin())  # fmt: skip
        now_min = (time.time() * 1000 - w.h0) / MINUTE_MS
        await cs.write(env.db, env.tsdb, cs.readings(w, "A", 0, 225, excursion=excursion))
        await cs.write(env.db, env.tsdb, cs.readings(w, "B", 215, now_min + 1))
        url = f"/api/v1/trace/lots/{w.gtin}/{w.lot}/brand"

        before = (await env.client.get(url, headers=h)).json()
        (rule,) = before["rules"]
        assert rule["state"] == "not_met" and before["granted"] is False
        assert [i["status"] for i in rule["evidence"]["intervals"]] == ["pending", "pending"]

        async with env.db.session() as s:
            lot = await s.get(TraceLot, w.lot_id)
        assert lot is not None
        done = await custody_service.compute_evidence(env.db, env.tsdb, lot, cs.admin())
        assert len(done.stored) == 2
        # the evidence itself re-evaluates the lot (no read needed): a flip is recorded
        async with env.db.session() as s:
            last = await s.scalar(
                select(BrandDecision)
                .where(BrandDecision.lot_id == w.lot_id)
                .order_by(BrandDecision.id.desc())
                .limit(1)
            )
        assert last is not None
        assert (last.granted, last.trigger) == (
            (False, "read") if excursion else (True, "evidence")
        )
        after = (await env.client.get(url, headers=h)).json()
        (rule,) = after["rules"]
        shown = rule["evidence"]["intervals"]
        assert [i["place"] for i in shown] == [w.place("A"), w.place("B")]
        assert {i["evidence_event_id"] for i in shown} == set(done.stored)
        outcomes[excursion] = (after, [i["status"] for i in shown])

    granted, statuses = outcomes[False]
    assert statuses == ["pass", "pass"]
    assert granted["granted"] is True and granted["rules"][0]["state"] == "met"
    assert granted["rules"][0]["detail"] == "all 2 custody intervals within the profile"
    lost, statuses = outcomes[True]
    assert statuses == ["excursion", "pass"]
    assert lost["granted"] is False and lost["rules"][0]["state"] == "not_met"
    detail = lost["rules"][0]["detail"]  # (no flip: the decision recorded before stands)
    assert detail.startswith("1 of 2 custody intervals not within the profile")
    assert "A 32 from " in detail and ": excursion" in detail
