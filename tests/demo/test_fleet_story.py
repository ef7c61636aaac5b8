"""The demo's fleet chapter (dehong/fleet_story.py).

Fast (default run): the simulator's catch-up clock; the chapter's registration against
a migrated database (vehicles linked to their compartments with profiles, trackers the
OsmAnd intake knows, truck gateways, dispatchers; run twice: nothing doubled, the
tracker ids rotated) and the console's snapshot of it per county.

Slow: ``dehong demo`` itself, in this process: positions arrive by OsmAnd and by MQTT,
the mango waybill is loaded with the trace load event and departed, the mango truck's
reefer failure is an excursion with an alarm, and the Longchuan dispatcher's console
shows Longchuan's trucks moving and no other county's (in Chromium too: the
screenshot docs/demo-fleet-console.png).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select

from cloud.auth.principal import Role
from cloud.catalog.storage import Location, LocationDevice, MobileDevice
from cloud.logistics.positions import trackers
from cloud.logistics.positions.storage import Tracker
from dehong import fleet_story
from simulators.fleet.clock import CatchUpClock
from tests.support.api import ApiEnv, api_env
from tests.support.services import free_port


def fleet_story_lot() -> str:
    from dehong.story import FRUIT

    return FRUIT.lot


DOCS = Path(__file__).resolve().parents[2] / "docs"


class _Mono:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_catch_up_clock_replays_fast_then_goes_live_never_ahead_of_the_wall() -> None:
    mono = _Mono()
    wall0 = 1_800_000_000_000
    clock = CatchUpClock(wall0 - 1_200_000, 60.0, monotonic=mono, wall_ms=wall0)
    assert clock.catch_up_s == pytest.approx(1200 / 59)
    for dt in (0.0, 5.0, 10.0, 20.0, clock.catch_up_s, 30.0, 300.0):
        mono.t = 100.0 + dt
        wall = wall0 + dt * 1000
        assert clock.sim_ms() <= wall + 1, dt  # never in the future
        if dt < clock.catch_up_s:
            assert clock.sim_ms() == wall0 - 1_200_000 + int(dt * 60_000)
        else:
            assert abs(clock.sim_ms() - wall) <= 2, dt  # live: simulated = wall
    mono.t = 100.0
    # the replay's 10th simulated minute is 10 s away; a minute after the start, once
    # live, is reached when the wall clock gets there
    assert clock.wall_delay_s(wall0 - 600_000) == pytest.approx(10.0)
    assert clock.wall_delay_s(wall0 + 60_000) == pytest.approx(60.0, abs=0.01)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        yield e


async def test_the_fleet_is_registered_once_and_each_county_sees_its_own(
    env: ApiEnv, tmp_path: Path
) -> None:
    settings = env.settings.model_copy(update={"mosquitto_dir": tmp_path / "mosquitto"})
    first = await fleet_story.register(settings, env.db, "http://127.0.0.1/osmand")
    again = await fleet_story.register(settings, env.db, "http://127.0.0.1/osmand")
    phones = [t.id for t in fleet_story.TRUCKS if t.reports != "gateway"]
    gateways = [t.gateway_id for t in fleet_story.TRUCKS if t.reports != "phone"]
    assert set(first.trackers) == set(phones) and set(first.gateways) == set(gateways)
    async with env.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(MobileDevice)) == len(
            fleet_story.TRUCKS
        )
        for truck in fleet_story.TRUCKS:
            link = await s.scalar(
                select(LocationDevice).where(
                    LocationDevice.device_id == truck.id, LocationDevice.until.is_(None)
                )
            )
            assert link is not None and link.location_id == first.compartments[truck.id]
            comp = await s.get_one(Location, link.location_id)
            assert comp.kind == "vehicle_compartment" and comp.county == truck.county
            assert comp.profile_id is not None
        # a new run rotates the tracker ids (shown once): the old one is refused
        for vehicle in phones:
            assert first.trackers[vehicle] != again.trackers[vehicle]
            assert await trackers.by_device_id(s, first.trackers[vehicle]) is None
            live = await trackers.by_device_id(s, again.trackers[vehicle])
            assert live is not None and live.vehicle == vehicle
        assert await s.scalar(select(func.count()).select_from(Tracker)) == len(phones)
    passwd = (tmp_path / "mosquitto" / "passwd").read_text()
    assert all(f"{g}:" in passwd for g in gateways)

    # the dispatchers log in with the demo defaults; each county sees its own trucks
    for county, (user, pw) in fleet_story.DISPATCHERS.items():
        r = await env.client.post("/api/v1/auth/token", data={"username": user, "password": pw})
        assert r.status_code == 200, r.text
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        snap = await env.client.get("/api/v1/logistics/console/snapshot", headers=h)
        assert snap.status_code == 200, snap.text
        seen = {v["device_id"] for v in snap.json()["vehicles"]}
        assert seen == {t.id for t in fleet_story.TRUCKS if t.county == county}, (county, seen)
    h = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.get(f"/api/v1/logistics/vehicles/{fleet_story.MANGO_TRUCK}", headers=h)
    assert r.status_code == 200 and r.json()["compartments"] == [
        first.compartments[fleet_story.MANGO_TRUCK]
    ]


# ---------------------------------------------------------------- the demo itself


async def _token(client: httpx.AsyncClient, user: str, pw: str) -> dict[str, str]:
    r = await client.post("/api/v1/auth/token", data={"username": user, "password": pw})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _until(what: str, check: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(1.0)
    raise AssertionError(f"{what}: not within {timeout_s} s (last: {last!r})")


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_the_demo_runs_the_fleet(tmp_path: Path) -> None:
    from dehong.demo import run_demo

    port = free_port()
    args = argparse.Namespace(
        duration=150.0, host="127.0.0.1", port=port, mqtt_port=0, state_dir=tmp_path / "demo",
        keep=False, batch_s=2.0, no_story=False, no_fleet=False, no_commerce=True, evidence_every_s=600.0,
    )  # fmt: skip
    started = time.monotonic()
    demo = asyncio.create_task(run_demo(args))
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:

            async def up() -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    return (await client.get("/healthz")).status_code == 200
                return False

            await _until("the API", up, 60)
            lc_user, lc_pw = fleet_story.DISPATCHERS[fleet_story.LONGCHUAN]

            async def chapter() -> bool:  # its dispatchers exist once it has registered
                r = await client.post(
                    "/api/v1/auth/token", data={"username": lc_user, "password": lc_pw}
                )
                return r.status_code == 200

            await _until("the fleet chapter", chapter, 60)
            lc = await _token(client, lc_user, lc_pw)
            ms = await _token(client, *fleet_story.DISPATCHERS[fleet_story.MANGSHI])

            # the reefer failure: an excursion of the mango truck and its alarm
            async def alarm() -> Any:
                r = await client.get(
                    "/api/v1/coldchain/alarms",
                    params={"device": fleet_story.MANGO_TRUCK},
                    headers=lc,
                )
                return r.status_code == 200 and r.json()["items"]

            alarms = await _until("the mango truck's alarm", alarm, 90)
            alarm_after_s = time.monotonic() - started
            assert alarms[0]["county"] == fleet_story.LONGCHUAN
            r = await client.get(
                "/api/v1/coldchain/excursions",
                params={"device": fleet_story.MANGO_TRUCK}, headers=lc,
            )  # fmt: skip
            (exc, *_) = [e for e in r.json() if e["kind"] == "excursion"]
            assert exc["peak_c"] > 13.0 and exc["direction"] == "above", exc
            # nothing else went out of range (door openings are short)
            r = await client.get("/api/v1/coldchain/alarms", headers=await _token(
                client, "demo-admin", "demo-dehong"))  # fmt: skip
            others = [a for a in r.json()["items"] if a["device"] != fleet_story.MANGO_TRUCK]
            assert not [a for a in others if a["device"].startswith("veh-")], others

            # positions by phone (OsmAnd) and by truck gateway (MQTT, through ingest)
            for vehicle, county in (("veh-lc-01", "lc"), ("veh-lc-02", "lc")):
                r = await client.get(f"/api/v1/logistics/vehicles/{vehicle}/positions", headers=lc)
                assert r.status_code == 200, r.text
                fixes = r.json()["items"]
                assert len(fixes) > 20, (vehicle, county, r.text[:300])
            r = await client.get("/api/v1/logistics/vehicles/veh-ms-01/positions", headers=lc)
            assert r.status_code == 404  # another county's truck

            # the waybill: loaded (with the trace's load event) and departed
            r = await client.get("/api/v1/logistics/waybills", headers=lc)
            (wb,) = r.json()
            r = await client.get(f"/api/v1/logistics/waybills/{wb['id']}", headers=lc)
            events = {e["to_status"]: e for e in r.json()["events"]}
            assert r.json()["status"] == "departed" and events["loaded"]["trace_event_id"]
            r = await client.get(
                f"/api/v1/epcis/events/{quote(events['loaded']['trace_event_id'], safe='')}",
                headers=lc,
            )
            assert r.status_code == 200, r.text
            assert "loading" in r.text and fleet_story_lot() in r.text, r.text[:500]

            # the console: Longchuan's trucks moving for its dispatcher, no other county's
            async def moving() -> Any:
                r = await client.get("/api/v1/logistics/console/snapshot", headers=lc)
                rows = r.json()["vehicles"]
                return [v for v in rows if v["status"] == "moving"] and rows

            rows = await _until("Longchuan's trucks moving", moving, 60)
            assert {v["county"] for v in rows} == {fleet_story.LONGCHUAN}
            assert any(v["device_id"] == fleet_story.MANGO_TRUCK and v["status"] == "moving"
                       and v["fix"]["temp1"] > 13.0 for v in rows), rows  # fmt: skip
            r = await client.get("/api/v1/logistics/console/snapshot", headers=ms)
            assert {v["county"] for v in r.json()["vehicles"]} == {fleet_story.MANGSHI}
            await _screenshot(base, lc_user, lc_pw)
        assert alarm_after_s < 75, alarm_after_s
    finally:
        demo.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await demo


async def _screenshot(base: str, user: str, pw: str) -> None:
    """The Longchuan dispatcher's console in Chromium: docs/demo-fleet-console.png."""
    from tests.cloud.test_phone_page import CHROMIUM, _need_chromium

    _need_chromium()
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = await browser.new_context(
                viewport={"width": 1440, "height": 900}, locale="zh-CN",
                timezone_id="Asia/Shanghai",
            )  # fmt: skip
            page = await context.new_page()
            await page.goto(base + "/console")
            await page.fill("#username", user)
            await page.fill("#password", pw)
            await page.click("#login-form button[type=submit]")
            await page.wait_for_selector("#live[data-state=live]", timeout=15_000)
            await page.wait_for_function(
                "() => document.querySelectorAll('#vehicles tbody tr').length === 2"
            )
            # titled by plate once the fleet provider is plugged in, else by device id
            await page.wait_for_selector(
                ".leaflet-marker-icon[title='云N·B3301'], .leaflet-marker-icon[title='veh-lc-01']"
            )
            html = await page.content()
            assert "veh-ms-01" not in html and "云N·A1201" not in html
            await asyncio.sleep(3.0)  # a few live updates
            await page.screenshot(path=str(DOCS / "demo-fleet-console.png"))
        finally:
            await browser.close()
