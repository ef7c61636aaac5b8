"""The dispatcher console in a real browser: Debian's Chromium headless (Playwright for
Python, no browser download) at a dispatcher's 1440x900 screen, against uvicorn serving
the app (SQLite), the map on the local tile stub.

- a Mangshi dispatcher logs in; the county's trucks are on the map, Longchuan's never;
- positions written into the time series during the test move the trucks live (the
  console's poller → the SSE stream → the map and the table), no reload;
- an alarm raised by a fake alarms provider appears live and is acknowledged with a
  comment (the provider records who and what);
- a trip replays from a fake replay provider: the route coloured by temperature, the
  chart, hovering it moves the marker, play advances;
- every request stays on the page's origin (any other is aborted and fails the test);
- screenshots: docs/console-live.png, docs/console-alarm.png, docs/console-replay.png,
  docs/console-en.png.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cloud.auth.principal import Role
from cloud.logistics.console import providers
from tests.cloud.console_support import (
    SEATS,
    FakeAlarms,
    clear_providers,
    fix,
    place,
    replay_fixture,
    vehicles,
)
from tests.cloud.test_phone_page import CHROMIUM, _need_chromium, serve
from tests.support.api import HOME, OTHER, PASSWORD, ApiEnv, api_env

pytestmark = [pytest.mark.timeout(150), pytest.mark.browser]
playwright_api = pytest.importorskip("playwright.async_api")

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PLATES = ["云N·C1024", "云N·C2048", "云N·C3072"]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    clear_providers()
    async with api_env("sqlite", tmp_path) as e:
        clear_providers()  # the app registered the real ones: these tests use fakes
        e.settings.console_poll_s = 0.3
        yield e
        hub = getattr(e.app.state, "console_hub", None)
        if hub is not None:
            await hub.close()
    clear_providers()


async def _seed(env: ApiEnv) -> tuple[list[str], list[str], FakeAlarms]:
    home = await vehicles(env, HOME, 3, prefix="ms-truck")
    other = await vehicles(env, OTHER, 2, prefix="lc-truck")
    (lat, lon) = SEATS[HOME]
    await fix(env, home[0], HOME, lat + 0.02, lon - 0.05, speed=48, temp=3.6)
    await fix(env, home[1], HOME, lat - 0.05, lon + 0.06, speed=0, temp=11.2)
    await fix(env, home[2], HOME, lat + 0.07, lon + 0.09, speed=0, temp=None, ts_ms=1)
    for d in other:
        await fix(env, d, OTHER, *SEATS[OTHER])
    await place(env, HOME, "cold_room", "芒市冷链中心冷库", lat - 0.01, lon + 0.01)
    await place(env, HOME, "station", "芒市县级服务站", lat + 0.03, lon + 0.02)
    await place(env, OTHER, "station", "陇川县服务站", *SEATS[OTHER])
    await env.add_user("ms-dispatcher", Role.DISPATCHER, HOME)

    async def fleet(call: providers.Call) -> list[dict[str, Any]]:
        rows = [
            {"device_id": d, "county": HOME, "plate": p, "waybill": f"WB-2026-00{i + 1}",
             "temp_min_c": 0.0, "temp_max_c": 4.0}
            for i, (d, p) in enumerate(zip(home, PLATES, strict=True))
        ]  # fmt: skip
        return rows + [{"device_id": d, "county": OTHER, "plate": "云N·L9999"} for d in other]

    async def trips(call: providers.Call) -> list[dict[str, Any]]:
        return [{"id": "trip-1", "county": HOME, "vehicle": home[0], "plate": PLATES[0],
                 "started_at": "2026-06-01T01:00:00+00:00"}]  # fmt: skip

    async def replay(call: providers.Call, trip_id: str) -> dict[str, Any] | None:
        return replay_fixture(HOME, home[0]) if trip_id == "trip-1" else None

    async def waybills(call: providers.Call, filters: dict[str, str]) -> list[dict[str, Any]]:
        rows = [
            {"id": "1", "county": HOME, "number": "WB-2026-001", "state": "departed",
             "plate": PLATES[0], "origin": "芒市冷链中心", "destination": "瑞丽姐告口岸",
             "updated_at": "2026-06-01T02:00:00+00:00"},
            {"id": "2", "county": HOME, "number": "WB-2026-002", "state": "loaded",
             "plate": PLATES[1], "origin": "芒市冷链中心", "destination": "昆明螺蛳湾",
             "updated_at": "2026-06-01T03:00:00+00:00"},
        ]  # fmt: skip
        return [r for r in rows if filters.get("state") in (None, r["state"])]

    alarms = FakeAlarms()
    alarms.register()
    providers.register_provider("fleet", fleet)
    providers.register_provider("trips", trips)
    providers.register_provider("replay", replay)
    providers.register_provider("waybills", waybills)
    return home, other, alarms


async def test_console_in_chromium(env: ApiEnv) -> None:
    _need_chromium()
    home, other, alarms = await _seed(env)
    async with serve(env) as base, playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True)
        foreign: list[str] = []
        try:
            context = await browser.new_context(
                viewport={"width": 1440, "height": 900}, locale="zh-CN",
                timezone_id="Asia/Shanghai",
            )  # fmt: skip

            async def route(r: Any) -> None:
                url = r.request.url
                if url.startswith(base + "/") or url.startswith("data:"):
                    await r.continue_()
                else:
                    foreign.append(url)
                    await r.abort()

            await context.route("**/*", route)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(base + "/console")
            await page.fill("#username", "ms-dispatcher")
            await page.fill("#password", PASSWORD)
            await page.click("#login-form button[type=submit]")
            await page.wait_for_selector("#live[data-state=live]", timeout=15_000)
            # three trucks of Mangshi on the map and in the table, none of Longchuan
            await page.wait_for_function(
                "() => document.querySelectorAll('#vehicles tbody tr').length === 3"
            )
            for plate in PLATES:
                await page.wait_for_selector(f'.leaflet-marker-icon[title="{plate}"]')
            html = await page.content()
            assert not any(d in html for d in other) and "云N·L9999" not in html
            assert "陇川" not in html
            assert await page.inner_text("#n-offline") == "1"
            await page.wait_for_function(
                "() => [...document.querySelectorAll('.leaflet-tile')].some(t => t.complete"
                " && t.naturalWidth === 256)"
            )

            # live: the first truck drives east; its marker moves, its row updates
            marker = page.locator(f'.leaflet-marker-icon[title="{PLATES[0]}"]')
            before = await marker.bounding_box()
            (lat, lon) = SEATS[HOME]
            for i in range(1, 4):
                await fix(env, home[0], HOME, lat + 0.02, lon - 0.05 + 0.01 * i, speed=52,
                          temp=3.6 + 0.1 * i)  # fmt: skip
                await fix(env, other[0], OTHER, 24.2, 97.8 + 0.01 * i, speed=60, temp=5.0)
                await asyncio.sleep(0.4)
            row = page.locator(f'#vehicles tr[data-device="{home[0]}"]')
            await page.wait_for_function(
                "(id) => document.querySelector(`#vehicles tr[data-device='${id}']`)"
                ".innerText.includes('3.9 °C')",
                arg=home[0],
                timeout=10_000,
            )
            after = await marker.bounding_box()
            assert before and after and after["x"] > before["x"] + 10, (before, after)
            assert "行驶" in await row.inner_text()
            html = await page.content()
            assert not any(d in html for d in other)
            await page.screenshot(path=str(DOCS / "console-live.png"))

            # an alarm appears live (the poller reads the alarms provider) and is acked
            ident = alarms.raise_alarm(HOME, home[1], "冷机温度 11.2 °C，超出 0–4 °C 已 32 分钟")
            alarms.raise_alarm(OTHER, other[0], "LONGCHUAN-ONLY alarm")
            await page.wait_for_function(
                "() => document.querySelector('#tab-alarms').textContent === '1'", timeout=10_000
            )
            await page.click("button[data-tab=alarms]")
            item = page.locator(f'.item[data-alarm="{ident}"]')
            await item.wait_for()
            assert "LONGCHUAN-ONLY" not in await page.content()
            await item.locator("input[name=comment]").fill("已电话通知司机检查冷机")
            await page.screenshot(path=str(DOCS / "console-alarm.png"))
            await item.locator("button[type=submit]").click()
            await page.wait_for_selector(f'.item.acknowledged[data-alarm="{ident}"]')
            assert alarms.acks == [(ident, "user:ms-dispatcher", "已电话通知司机检查冷机")]
            await page.select_option("#alarm-state", "all")
            await page.wait_for_selector(f'.item.acknowledged[data-alarm="{ident}"]')

            # waybills board
            await page.click("button[data-tab=waybills]")
            await page.wait_for_selector("#waybills .item")
            await page.select_option("#waybill-state", "loaded")
            await page.wait_for_function(
                "() => document.querySelectorAll('#waybills .item').length === 1"
            )
            assert "WB-2026-002" in await page.inner_text("#waybills")
            await page.click("button[data-tab=capacity]")
            await page.wait_for_selector("#capacity .nc")  # no capacity provider: 未接入
            assert "未接入" in await page.inner_text("#capacity")

            # replay: load, hover the chart, play
            await page.click("button[data-tab=replay]")
            await page.wait_for_selector("#replay-trip option[value=trip-1]", state="attached")
            await page.select_option("#replay-trip", "trip-1")
            await page.click("#replay-load")
            await page.wait_for_selector("#replay-svg")
            paths = await page.locator(".leaflet-overlay-pane path").count()
            assert paths >= 100  # a segment per step, each coloured by its temperature
            colours = await page.evaluate(
                "() => new Set([...document.querySelectorAll('.leaflet-overlay-pane path')]"
                ".map(p => p.getAttribute('stroke'))).size"
            )
            assert colours > 5
            box = await page.locator("#replay-hover").bounding_box()
            assert box
            await page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] / 2)
            at = int(await page.get_attribute("#replay-at", "data-index") or 0)
            assert 55 < at < 75, at
            await page.screenshot(path=str(DOCS / "console-replay.png"))
            await page.mouse.move(0, 0)
            await page.fill("#replay-pos", "0")
            await page.dispatch_event("#replay-pos", "input")
            await page.click("#replay-play")
            await page.wait_for_function(
                "() => +document.querySelector('#replay-at').dataset.index > 20", timeout=10_000
            )

            # English
            await page.click("button[data-tab=vehicles]")
            await page.click("#lang-switch")
            assert "moving" in await page.inner_text(".strip")
            await page.screenshot(path=str(DOCS / "console-en.png"))
            assert errors == [], errors
            await context.close()
        finally:
            await browser.close()
    assert foreign == [], foreign
