"""The logistics parts wired together (issue 13), through the API on SQLite and
PostgreSQL: a phone's ``temp1`` reaches the cold chain (at once, and from the durable
windows after a process stopped), the vehicle's device measures its compartment, a
lot's custody evidence and its waybill show the truck's excursion, and the console's
providers are the real packages'."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, update

from cloud.audit.storage import AuditEntry
from cloud.auth.policy import Role
from cloud.catalog.storage import CommodityProfile, Location, LocationDevice
from cloud.coldchain.storage import ColdchainAlarm
from cloud.logistics.console import providers
from cloud.logistics.console.hub import hub_of
from cloud.logistics.positions.coldchain import PositionsColdChain
from cloud.logistics.positions.storage import DirtyWindow
from tests.cloud.logistics_world import API, World, build, headers, move, trip, waybill
from tests.cloud.trace_cases import G
from tests.support.api import HOME, OTHER, ApiEnv, api_env
from tests.support.epcis import add_product

OSMAND = "/api/v1/logistics/osmand"
CONSOLE = "/api/v1/logistics/console"
MIN = 60_000


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e
        feed = e.app.state.positions_coldchain
        if feed is not None:
            await feed.stop()
        hub = getattr(e.app.state, "console_hub", None)
        if hub is not None:
            await hub.close()


async def _chilled(env: ApiEnv, w: World) -> int:
    """A 0-4 °C profile on the truck's first compartment and on the lot's product;
    the truck's device linked since three hours ago (registered earlier)."""
    await add_product(env, G, w.coop, w.county)
    async with env.db.transaction() as s:
        prof = CommodityProfile(
            county=w.county, name=f"荔枝 lychee {w.vehicle}", temp_min_c=0.0, temp_max_c=4.0,
            single_excursion_max_s=600, cumulative_excursion_max_s=3600, created_by="test",
        )  # fmt: skip
        s.add(prof)
        await s.flush()
        await s.execute(
            update(Location).where(Location.id == w.compartments[0]).values(profile_id=prof.id)
        )
        from cloud.catalog.storage import Product

        await s.execute(update(Product).where(Product.gtin == G).values(profile_id=prof.id))
        await s.execute(
            update(LocationDevice)
            .where(LocationDevice.device_id == w.vehicle)
            .values(since=datetime.now(UTC) - timedelta(hours=3))
        )
        return prof.id


async def _tracker(env: ApiEnv, w: World) -> str:
    h = await headers(env, Role.DISPATCHER, w.county)
    r = await env.client.post(f"{API}/trackers", json={"vehicle": w.vehicle}, headers=h)
    assert r.status_code == 201, r.text
    return str(r.json()["device_id"])


def _fixes(start_ms: int, temps: list[float]) -> list[dict[str, float]]:
    """One fix every 30 s, moving slowly north-east of Mangshi."""
    return [
        {
            "timestamp": start_ms + i * 30_000,
            "lat": 24.43 + i * 1e-4,
            "lon": 98.58 + i * 1e-4,
            "speed": 8.0,
            "temp1": t,
        }
        for i, t in enumerate(temps)
    ]


#: 5 min at 3 °C, 15 min at 9 °C (above the 0-4 °C range), 5 min back at 3 °C
TEMPS = [3.0] * 10 + [9.0] * 30 + [3.0] * 10


async def _alarms(env: ApiEnv, device: str) -> list[ColdchainAlarm]:
    async with env.db.session() as s:
        return list(await s.scalars(select(ColdchainAlarm).where(ColdchainAlarm.device == device)))


async def test_vehicle_device_measures_its_first_compartment(env: ApiEnv) -> None:
    w = await build(env, HOME, driver=False)
    async with env.db.session() as s:
        links = (await s.scalars(select(LocationDevice).where(
            LocationDevice.device_id == w.vehicle))).all()  # fmt: skip
    assert [(x.location_id, x.until) for x in links] == [(w.compartments[0], None)]
    # compartments swapped: the old link ends (history kept), the new one opens
    body = {"plate": w.plate, "vehicle_type": "4.2m 冷藏车", "refrigerated": True,
            "capacity_kg": 3000, "capacity_m3": 16, "compartments": w.compartments[::-1]}  # fmt: skip
    r = await env.client.put(f"{API}/vehicles/{w.vehicle}", json=body, headers=w.admin)
    assert r.status_code == 200, r.text
    async with env.db.session() as s:
        links = (await s.scalars(select(LocationDevice).where(
            LocationDevice.device_id == w.vehicle).order_by(LocationDevice.id))).all()  # fmt: skip
    assert [(x.location_id, x.until is None) for x in links] == [
        (w.compartments[0], False), (w.compartments[1], True)]  # fmt: skip


async def test_phone_temp1_above_the_compartment_range_raises_an_alarm(env: ApiEnv) -> None:
    w = await build(env, HOME, driver=False)
    await _chilled(env, w)
    device_id = await _tracker(env, w)
    hub = hub_of(env.app)
    sub = hub.subscribe([HOME])
    try:
        start = int(time.time() * 1000) - 40 * MIN
        r = await env.client.post(
            OSMAND, json={"device_id": device_id, "locations": _fixes(start, TEMPS)}
        )
        assert r.status_code == 200 and r.json()["accepted"] == len(TEMPS), r.text
        await asyncio.wait_for(env.app.state.positions_coldchain.engine.drained(), 30)
        alarms = await _alarms(env, w.vehicle)
        assert [(a.rule, a.metric, a.county, a.severity) for a in alarms] == [
            ("range", "temp1", HOME, "critical")  # 15 min > the single limit (10 min)
        ]
        # pushed to the console's stream at once by the cold chain's listener
        pushed = []
        while not sub.queue.empty():
            pushed.append(sub.queue.get_nowait())
        assert any(e.kind == "alarm" and e.data["id"] == str(alarms[0].id) for e in pushed)
    finally:
        hub.unsubscribe(sub)
    # the console's real providers: the alarm, county-scoped, acknowledged with a comment
    disp = await headers(env, Role.DISPATCHER, HOME)
    r = await env.client.get(f"{CONSOLE}/alarms", params={"state": "open"}, headers=disp)
    assert r.json()["connected"] is True
    assert [a["id"] for a in r.json()["items"]] == [str(alarms[0].id)]
    other = await headers(env, Role.DISPATCHER, OTHER)
    r = await env.client.get(f"{CONSOLE}/alarms", params={"state": "all"}, headers=other)
    assert str(alarms[0].id) not in {a["id"] for a in r.json()["items"]}
    r = await env.client.post(f"{CONSOLE}/alarms/{alarms[0].id}/ack",
                              json={"comment": "冷机已重启 reefer restarted"}, headers=other)  # fmt: skip
    assert r.status_code == 404
    r = await env.client.post(f"{CONSOLE}/alarms/{alarms[0].id}/ack",
                              json={"comment": "冷机已重启 reefer restarted"}, headers=disp)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["state"] in ("acknowledged", "cleared") and r.json()["comment"]
    async with env.db.session() as s:
        acked = (await s.scalars(select(AuditEntry).where(
            AuditEntry.action == "coldchain.alarm.acknowledged",
            AuditEntry.target == f"alarm:{alarms[0].id}"))).all()  # fmt: skip
    assert len(acked) == 1 and acked[0].detail["comment"] == "冷机已重启 reefer restarted"
    # the fleet panel: plate and the compartment profile's range
    snap = (await env.client.get(f"{CONSOLE}/snapshot", headers=disp)).json()
    mine = [v for v in snap["vehicles"] if v["device_id"] == w.vehicle]
    assert mine and mine[0]["fleet"]["plate"] == w.plate
    assert (mine[0]["fleet"]["temp_min_c"], mine[0]["fleet"]["temp_max_c"]) == (0.0, 4.0)


async def test_fixes_of_a_process_that_stopped_are_evaluated_from_the_windows(
    env: ApiEnv,
) -> None:
    """The fixes were stored but the process stopped before its engine evaluated them:
    the ``coldchain`` windows they marked bring them to another process's engine."""
    w = await build(env, HOME, driver=False)
    await _chilled(env, w)
    device_id = await _tracker(env, w)
    env.app.state.position_intake.written.clear()  # this process's engine never hears them
    start = int(time.time() * 1000) - 40 * MIN
    r = await env.client.post(
        OSMAND, json={"device_id": device_id, "locations": _fixes(start, TEMPS)}
    )
    assert r.status_code == 200, r.text
    assert await _alarms(env, w.vehicle) == []
    other = PositionsColdChain(env.db, env.tsdb)  # another (or the restarted) process
    assert await other.run_windows(settle_s=0) >= 1
    assert [a.rule for a in await _alarms(env, w.vehicle)] == ["range"]
    async with env.db.session() as s:
        left = (await s.scalars(select(DirtyWindow).where(
            DirtyWindow.consumer == "coldchain", DirtyWindow.device == w.vehicle))).all()  # fmt: skip
    assert left == []


async def test_lot_on_the_truck_shows_the_excursion_in_custody_and_waybill(env: ApiEnv) -> None:
    w = await build(env, HOME)
    await _chilled(env, w)
    device_id = await _tracker(env, w)
    now = datetime.now(UTC)
    t = await trip(env, w, day=now.astimezone(timezone(timedelta(hours=8))).date().isoformat())
    wb = await waybill(env, w)
    assert (await move(env, w.admin, wb, "assigned", trip_id=t)).status_code == 201
    loaded = now - timedelta(minutes=50)
    r = await move(env, w.admin, wb, "loaded", at=loaded.isoformat())
    assert r.status_code == 201, r.text
    start = int(loaded.timestamp() * 1000) + 2 * MIN
    r = await env.client.post(
        OSMAND, json={"device_id": device_id, "locations": _fixes(start, TEMPS)}
    )
    assert r.status_code == 200, r.text
    await asyncio.wait_for(env.app.state.positions_coldchain.engine.drained(), 30)
    for step, at in (("departed", 44), ("arrived", 10)):
        r = await move(env, w.admin, wb, step, at=(now - timedelta(minutes=at)).isoformat())
        assert r.status_code == 201, r.text
    # the waybill's detail: the truck's excursion while the load was on board
    r = await env.client.get(f"{API}/waybills/{wb}", headers=w.admin)
    exc = r.json()["excursions"]
    assert [(e["metric"], e["direction"], e["peak_c"]) for e in exc] == [("temp1", "above", 9.0)]
    assert exc[0]["single_limit_passed"] is True and exc[0]["high_c"] == 4.0
    # the lot's custody evidence in the compartment is computed from the truck's temp1
    h = await headers(env, Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(f"/api/v1/trace/lots/{G}/{w.lot}/custody/evidence", headers=h)
    assert r.status_code == 200, r.text
    intervals = r.json()["custody"]["intervals"]
    truck = [i for i in intervals if (i["location"] or {}).get("id") == w.compartments[0]]
    assert truck, intervals
    ev = truck[0]["evidence"]
    assert ev["status"] == "excursion", str(ev["elements"])[:1500]
    assert ev["summary"]["temperature"]["max"] == 9.0, ev["summary"]


async def test_waybill_board_and_capacity_from_the_real_packages(env: ApiEnv) -> None:
    w = await build(env, HOME)
    wb = await waybill(env, w)
    disp = await headers(env, Role.DISPATCHER, HOME)
    r = await env.client.get(f"{CONSOLE}/waybills", params={"state": "created"}, headers=disp)
    assert r.json()["connected"] is True and str(wb) in {x["id"] for x in r.json()["items"]}
    r = await env.client.get(f"{CONSOLE}/waybills", params={"state": "delivered"}, headers=disp)
    assert str(wb) not in {x["id"] for x in r.json()["items"]}
    other = await headers(env, Role.DISPATCHER, OTHER)
    r = await env.client.get(f"{CONSOLE}/waybills", headers=other)
    assert str(wb) not in {x["id"] for x in r.json()["items"]}
    r = await env.client.get(f"{CONSOLE}/capacity", params={"day": "2026-12-05"}, headers=disp)
    rows = [x for x in r.json()["items"] if x["vehicle"] == w.vehicle]
    assert rows and {x["temp_class"] for x in rows} >= {"chilled"}
    assert all(x["free_kg"] == 3000 and x["plate"] == w.plate for x in rows)
    # trips, replay and geofences come from cloud/logistics/trips (test_trips_wiring.py)
    assert all(providers.connected()[name] for name in ("trips", "replay", "geofences"))


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_delivery_code_goes_through_the_notify_sms_channel(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DEHONG_NOTIFY_CHANNELS with an sms channel: the one-time code reaches the SMS
    gateway (a real local HTTP server); the stored delivery keeps neither the code nor
    the phone; a gateway refusing it is a 502 and a code to send again."""
    import json

    from cloud.notify.storage import NotifyDeadLetter, NotifyDelivery
    from tests.support.http_receiver import http_receiver

    with http_receiver([(200, b'{"code": "OK"}'), (400, b'{"code": "BAD"}')]) as rec:
        channels = [{"name": "sms-gw", "kind": "sms", "url": rec.url + "/send",
                     "template": {"phones": "{to}", "content": "{text}"},
                     "ok_field": "code", "ok_value": "OK"}]  # fmt: skip
        monkeypatch.setenv("DEHONG_NOTIFY_CHANNELS", json.dumps(channels))
        async with api_env(backend, tmp_path) as env:
            w = await build(env, HOME)
            wb = await waybill(env, w, receiver_phone="13912345678")
            r = await env.client.post(f"{API}/waybills/{wb}/code", headers=w.admin)
            assert r.status_code == 200, r.text
            await asyncio.to_thread(rec.wait_for, 1)
            body = rec.requests[0].body
            assert body["phones"] == "13912345678" and "签收码" in body["content"]
            code = body["content"].split("签收码 ")[1][:6]
            assert code.isdigit()
            async with env.db.session() as s:
                rows = (await s.scalars(select(NotifyDelivery))).all()
            assert [x.status for x in rows] == ["sent"]
            stored = json.dumps(rows[0].message, ensure_ascii=False)
            assert code not in stored and "13912345678" not in stored and "5678" in stored
            # the gateway refuses the next one: 502, dead-lettered without the code
            r = await env.client.post(f"{API}/waybills/{wb}/code", headers=w.admin)
            assert r.status_code == 502, r.text
            async with env.db.session() as s:
                dead = (await s.scalars(select(NotifyDeadLetter))).all()
            assert len(dead) == 1 and "13912345678" not in json.dumps(dead[0].body)
            await env.app.state.delivery_code_notifier.aclose()
