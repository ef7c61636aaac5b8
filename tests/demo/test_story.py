"""The demo's traced story (dehong/story.py) against a migrated database (SQLite, and
PostgreSQL) and the embedded time-series store: the demo gateways provisioned as the
demo does, the cold rooms' readings written as ingest writes them (the story's anchor
set half an hour back, so that the evidence need not wait for a minute boundary); then
the story, its evidence, and what the API says of the traced lots. Outcomes are
checked against what they rest on, never against fixed values. Run twice: the second
run changes nothing."""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from cloud.auth.principal import Role
from cloud.catalog.storage import LocationDevice
from cloud.db import utcnow
from cloud.devices.storage import Device
from cloud.provisioning.service import provision_gateway
from cloud.timeseries import Point
from cloud.timeseries.rollup import mark
from cloud.trace.epcis.identifiers import dl_uri
from cloud.trace.events.storage import TraceEvent
from dehong import story as story_mod
from tests.support.api import ApiEnv, api_env

PREF = "533100"
ROOMS = {  # device -> (county, site, setpoint °C, rh %)
    story_mod.COFFEE_ROOM_DEVICE: ("533103", "mangshi-coffee", 17.5, 58.0),
    story_mod.MANGO_ROOM_DEVICE: ("533124", "longchuan-store", 11.0, 88.0),
}
POLL_MS = 10_000


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


async def _rooms(env: ApiEnv, start_ms: int, end_ms: int) -> None:
    """The demo's gateways, and their cold rooms' readings every 10 s (a room near its
    setpoint, as the simulator keeps it)."""
    for gateway, county, site in (
        ("mangshi-coop-01", "533103", "mangshi-coffee"),
        ("longchuan-coop-01", "533124", "longchuan-store"),
    ):
        await provision_gateway(env.db, county, gateway, site, gateway, actor="test")
    async with env.db.transaction() as s:
        for device, (county, site, _sp, _rh) in ROOMS.items():
            s.add(
                Device(
                    id=device, county=county, kind="cold_room", site=site,
                    gateway_id=device.split(".")[0],
                    metrics=["temperature", "humidity", "setpoint", "door", "compressor"],
                    first_seen_at=utcnow(), last_seen_at=utcnow(), last_reading_ms=end_ms,
                    readings=0,
                )
            )  # fmt: skip
    points = []
    for device, (county, site, setpoint, rh) in ROOMS.items():
        for t in range(start_ms, end_ms, POLL_MS):
            temp = round(setpoint + 0.3 * math.sin(t / 600_000), 1)
            fields = {"temperature": temp, "humidity": rh, "setpoint": setpoint}
            points.append(Point("cold_room", device, county, site, t, fields))
    await env.tsdb.write(points)
    await mark(env.db, points)


async def _get(env: ApiEnv, h: dict[str, str], url: str, **params: Any) -> Any:
    r = await env.client.get(url, headers=h, params=params)
    assert r.status_code == 200, (url, r.text)
    return r.json()


async def test_the_story_traces_both_lots_with_evidence_and_a_brand_decision(
    env: ApiEnv, tmp_path: Path
) -> None:
    state = tmp_path / "demo"
    state.mkdir()
    now_ms = int(time.time() * 1000)
    anchor = datetime.fromtimestamp(now_ms // 1000 - 1800, UTC)
    (state / "story.json").write_text(json.dumps({"anchor": anchor.isoformat()}))
    await _rooms(env, now_ms - 2400_000, now_ms)
    settings = env.settings.model_copy(update={"filestore_dir": tmp_path / "files"})

    # the master data as if registered 40 minutes ago (the rooms' devices linked then)
    await story_mod.master_data(env.db)
    async with env.db.transaction() as s:
        for link in await s.scalars(
            select(LocationDevice).where(LocationDevice.device_id.in_(list(ROOMS)))
        ):
            link.since = datetime.fromtimestamp((now_ms - 2400_000) / 1000, UTC)

    started = time.perf_counter()
    story = await story_mod.run_story(settings, env.db, env.tsdb, state, wait_s=0)
    assert story.anchor == anchor
    assert set(story.steps.values()) == {"stored"}, story.steps
    assert story.inspection["usable"] and story.inspection["seconds"] < 10
    done = await story_mod.evidence(env.db, env.tsdb, story.lots)
    assert done.stored >= 2 and set(done.granted) == {story_mod.COFFEE.lot, story_mod.FRUIT.lot}
    elapsed = time.perf_counter() - started

    h = await env.headers(Role.PREFECTURE_ADMIN, PREF)
    rules = await _get(env, h, "/api/v1/trace/brand/rules")
    assert [r["kind"] for r in rules["rules"]] == [r["kind"] for r in story_mod.BRAND_RULES]
    assert rules["note"] == story_mod.BRAND_NOTE
    for lot in story.lots:
        base = lot.path()
        got = await _get(env, h, base)
        assert got["county"] == lot.county
        events = (await _get(env, h, "/api/v1/epcis/events", MATCH_anyEPCClass=lot.uri()))[
            "epcisBody"
        ]["queryResults"]["resultsBody"]["eventList"]
        steps = {e.get("bizStep") for e in events}
        assert {"commissioning", "sensor_reporting"} <= steps, steps
        if lot is story_mod.FRUIT:  # packed into cases; the cases were stored
            assert "packing" in steps
            case = dl_uri(sscc=story_mod.CASES[0])
            events = (await _get(env, h, "/api/v1/epcis/events", MATCH_anyEPC=case))["epcisBody"][
                "queryResults"
            ]["resultsBody"]["eventList"]
            steps = {e.get("bizStep") for e in events}
        assert "storing" in steps, steps
        certs = await _get(env, h, f"{base}/certificates")
        commitments = await _get(env, h, f"{base}/commitment-certificates")
        assert certs["certificates"] and commitments["certificates"], (certs, commitments)

        custody = await _get(env, h, f"{base}/custody")
        rooms = [i for i in custody["intervals"] if i["location"] and i["location"]["kind"] == "cold_room"]  # fmt: skip
        (room,) = rooms
        assert room["end"] is None and room["state"] == "evidenced"
        evidence = room["evidence"]
        temp = evidence["summary"]["temperature"]
        assert evidence["coverage"] > 0.95 and temp["n"] > 100
        limits = evidence["limits"]
        inside = limits["temp_min_c"] <= temp["min"] and temp["max"] <= limits["temp_max_c"]
        assert (evidence["status"] == "pass") == inside, evidence

        brand = await _get(env, h, f"{base}/brand")
        states = {s["rule"]["kind"] + ":" + s["rule"].get("test", ""): s for s in brand["rules"]}
        assert brand["granted"] == all(
            s["state"] in ("met", "not_applicable") for s in brand["rules"]
        )
        assert brand["history"], brand
        failing = [s for s in brand["rules"] if s["state"] in ("not_met", "unknown")]
        for s in failing:
            assert f"rule {s['index']} ({s['rule']['kind']})" in brand["decision"]["reason"]
        (cert_rule,) = [s for s in brand["rules"] if s["rule"]["kind"] == "certificate"]
        valid = [c for c in certs["certificates"]
                 if c["valid"] and c["type"] in cert_rule["rule"]["type"]]  # fmt: skip
        assert cert_rule["state"] == ("met" if valid else "not_met"), cert_rule
        cold = states["cold_chain_compliant:"]
        if lot is story_mod.FRUIT:
            # the mango: in its cases in the room; the rule reads the room's evidence
            assert room["container"] is not None
            statuses = [i["status"] for i in cold["evidence"]["intervals"]]
            assert cold["state"] == ("met" if set(statuses) == {"pass"} else "not_met")
            assert evidence["event_id"] in {
                i["evidence_event_id"] for i in cold["evidence"]["intervals"]
            }
        else:
            # the coffee: the processing station (unmeasured, not kept cold) is left out,
            # the cold room is judged from its evidence
            judged = cold["evidence"]["intervals"]
            assert [i["kind"] for i in judged] == ["cold_room"], cold
            assert [i["kind"] for i in cold["evidence"]["not_judged"]] == ["processing_site"]
            assert cold["state"] == ("met" if judged[0]["status"] == "pass" else "not_met")
            camera = states["camera_grade_at_least:"]
            assert camera["evidence"]["grade"] == story.inspection["grade"]
            moisture = states["test_passed_within_days:moisture"]
            assert moisture["state"] == "met", moisture
        r = await env.client.get(
            "/api/v1/trace/log/proof/inclusion",
            params={"event_id": evidence["event_id"]},
            headers=h,
        )
        assert r.status_code == 200, r.text

    # a scan: the lot's QR and one bag's (serial 1 with its code) open the trace page;
    # a forged code says so. The URIs are the demo's own (public_base_url).
    browser = {"Accept": "text/html"}
    for lot in story.lots:
        scan = story.scan[lot.lot]
        assert scan["lot"].startswith(settings.public_base_url)
        for uri, says in ((scan["lot"], None), (scan["unit"], None),
                          (scan["forged"], "此码非本平台发放")):  # fmt: skip
            r = await env.client.get(uri.removeprefix(settings.public_base_url), headers=browser)
            assert r.status_code == 200, (uri, r.text[:300])
            assert lot.lot in r.text and "承诺达标合格证" in r.text
            assert (says in r.text) if says else ("此码非本平台发放" not in r.text), uri

    # backward from the green beans: the parchment lots and the cherries
    back = await _get(env, h, f"{story_mod.COFFEE.path()}/backward")
    assert {"MS-CH-001", "MS-PD-001", "MS-PW-001"} <= {x.get("lot") for x in back["items"]}

    # again (dehong demo --keep): nothing new
    async with env.db.session() as s:
        before = await s.scalar(select(func.count()).select_from(TraceEvent))
    again = await story_mod.run_story(settings, env.db, env.tsdb, state, wait_s=0)
    assert set(again.steps.values()) == {"unchanged"}, again.steps
    async with env.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(TraceEvent)) == before
    assert elapsed < 30
    lines = story_mod.banner_lines("http://127.0.0.1:8080", story)
    assert any(quote(story_mod.FRUIT.uri(), safe="") in line for line in lines)
    assert any(story.scan[story_mod.COFFEE.lot]["unit"] in line for line in lines)
    assert story.first_evidence_at() > anchor and story.first_evidence_at() - anchor <= timedelta(
        seconds=70
    )
