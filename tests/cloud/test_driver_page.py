"""The driver's phone page (/m/driver) in a real Chromium against the real API (SQLite).

Log in as the driver; see today's trip, its two stops and waybills; with the network
cut, load everything and depart (queued, shown as waiting); restore the network and
find each transition on the server once, with the trace's shipping events; arrive;
deliver one waybill with its proof (photo, drawn signature, receiver's name, the
browser's GPS fix) while offline, then online; the page reopens offline from its
service worker; the English switch. Screenshots (390x844) go to ``docs/screenshots/``
when ``DEHONG_DRIVER_SHOTS`` names a folder, else to ``tmp_path``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloud.logistics.waybills.storage import ProofOfDelivery, Waybill, WaybillEvent
from tests.cloud.logistics_world import API, build, move, waybill
from tests.cloud.test_phone_page import CHROMIUM, _need_chromium, serve
from tests.support.api import HOME, PASSWORD, ApiEnv, api_env

pytestmark = [pytest.mark.timeout(150)]
playwright_api = pytest.importorskip("playwright.async_api")


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        yield e


async def test_driver_page_and_shell_are_served(env: ApiEnv) -> None:
    r = await env.client.get("/m/driver")
    assert r.status_code == 200 and "德宏冷链" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    sw = await env.client.get("/m/driver/sw.js")
    assert "/m/trace/static/queue.js" in sw.text and "__VERSION__" not in sw.text
    for name in ("app.js", "i18n.js", "sign.js", "driver.css"):
        assert (await env.client.get(f"/m/driver/static/{name}")).status_code == 200


def _jpeg(path: Path) -> Path:
    import cv2
    import numpy as np

    img = np.full((480, 640, 3), (60, 140, 210), np.uint8)
    cv2.putText(img, "mango 12 cases", (40, 240), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (255, 255, 255), 3)
    cv2.imwrite(str(path), img)
    return path


async def _statuses(env: ApiEnv, ids: list[int]) -> list[str]:
    async with env.db.session() as s:
        rows = (
            await s.scalars(select(Waybill).where(Waybill.id.in_(ids)).order_by(Waybill.id))
        ).all()
    return [w.status for w in rows]


async def _wait(env: ApiEnv, ids: list[int], want: list[str], seconds: float = 20) -> None:
    for _ in range(int(seconds * 10)):
        if await _statuses(env, ids) == want:
            return
        await asyncio.sleep(0.1)
    assert await _statuses(env, ids) == want


async def test_driver_works_offline(env: ApiEnv, tmp_path: Path) -> None:
    _need_chromium()
    w = await build(env, HOME)
    today = datetime.now(timezone(timedelta(hours=8))).date().isoformat()
    r = await env.client.post(f"{API}/trips", json={"vehicle_id": w.vehicle, "driver_id": w.driver,
                              "day": today}, headers=w.admin)  # fmt: skip
    trip = r.json()["id"]
    a = await waybill(env, w, weight_kg=900)
    b = await waybill(env, w, weight_kg=600, destination_id=w.customer2)
    for wb in (a, b):
        assert (await move(env, w.admin, wb, "assigned", trip_id=trip)).status_code == 201
    shots = Path(os.environ.get("DEHONG_DRIVER_SHOTS") or tmp_path / "shots")
    photo = await asyncio.to_thread(_jpeg, tmp_path / "goods.jpg")  # screenshots make `shots`

    async with serve(env) as base, playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = await browser.new_context(
                viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                has_touch=True, locale="zh-CN", timezone_id="Asia/Shanghai",
                permissions=["geolocation"], geolocation={"latitude": 24.0106, "longitude": 97.8510, "accuracy": 8},
            )  # fmt: skip
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{base}/m/driver")
            await page.wait_for_selector("body[data-ready='1']")
            await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
            await page.fill("#username", w.driver_user)
            await page.fill("#password", PASSWORD)
            await page.click("#login-form button[type=submit]")
            await page.wait_for_selector(f".wb[data-waybill='{a}'][data-status='assigned']")
            assert await page.locator(".stop").count() == 2
            card = await page.locator(f".wb[data-waybill='{a}']").inner_text()
            assert "800 千克" in card and "KGM" not in card, card  # a unit a driver reads
            await page.screenshot(path=shots / "driver-trip.png")

            # offline: load everything and depart; both queued, nothing on the server yet
            await context.set_offline(True)
            await page.wait_for_selector("#net.off")
            await page.click("#load-all")
            await page.wait_for_selector(f".wb[data-waybill='{b}'][data-status='loaded']")
            await page.click("#depart")
            await page.wait_for_function(
                "() => document.querySelector('#waiting-count').textContent === '4'"
            )
            await page.screenshot(path=shots / "driver-offline-queued.png")
            assert await _statuses(env, [a, b]) == ["assigned", "assigned"]

            await context.set_offline(False)
            await page.evaluate("globalThis.dhDriver.syncer.now()")
            await _wait(env, [a, b], ["departed", "departed"])
            await page.wait_for_function(
                "() => document.querySelector('#waiting-count').textContent === '0'"
            )
            async with env.db.session() as s:
                events = (await s.scalars(select(WaybillEvent).where(WaybillEvent.waybill_id.in_([a, b]),
                          WaybillEvent.source == "phone"))).all()  # fmt: skip
            assert sorted((e.waybill_id, e.to_status) for e in events) == sorted(
                [(a, "loaded"), (a, "departed"), (b, "loaded"), (b, "departed")]
            ), "each queued action once"
            assert all(e.trace_event_id for e in events if e.to_status == "loaded")

            # arrive at stop 1 (online), then deliver offline with the proof
            await page.click("#refresh")
            await page.click(f".wb[data-waybill='{a}'] .act-arrived")
            await _wait(env, [a], ["arrived"])
            await page.click("#refresh")
            await page.wait_for_selector(f".wb[data-waybill='{a}'] .act-deliver")
            await context.set_offline(True)
            await page.click(f".wb[data-waybill='{a}'] .act-deliver")
            await page.wait_for_selector("#pod:not([hidden])")
            await page.fill("#pod-name", "李四")
            await page.set_input_files("#pod-photo", str(photo))
            box = await page.locator("#pod-sign").bounding_box()
            assert box is not None
            await page.mouse.move(box["x"] + 20, box["y"] + 100)
            await page.mouse.down()
            for i in range(1, 12):
                await page.mouse.move(
                    box["x"] + 20 + i * 25, box["y"] + 100 + (30 if i % 2 else -30)
                )
            await page.mouse.up()
            await page.wait_for_function(
                "() => document.querySelector('#pod-gps').textContent.includes('24.01')"
            )
            await page.wait_for_selector("#pod-preview:not([hidden])")
            await page.screenshot(path=shots / "driver-proof.png")
            await page.click("#pod-submit")
            await page.wait_for_selector(f".wb[data-waybill='{a}'][data-status='delivered']")
            await page.screenshot(path=shots / "driver-delivered-offline.png")
            assert await _statuses(env, [a]) == ["arrived"]
            await context.set_offline(False)
            await page.evaluate("globalThis.dhDriver.syncer.now()")
            await _wait(env, [a], ["delivered"])
            async with env.db.session() as s:
                pod: Any = await s.get(ProofOfDelivery, a)
            assert pod is not None and pod.photo_key and pod.signature_key
            assert abs(pod.lat - 24.0106) < 1e-6 and "李四" not in pod.receiver_name_sealed
            got = (await env.client.get(f"{API}/waybills/{a}", headers=w.admin)).json()
            assert got["pod"]["receiver_name"] == "李四"

            # the page reopens offline from its service worker, and speaks English
            await context.set_offline(True)
            await page.reload()
            await page.wait_for_selector("body[data-ready='1']")
            await page.wait_for_selector(f".wb[data-waybill='{b}']")
            await page.click("#lang")
            await page.wait_for_function(
                "() => document.querySelector('#net').textContent === 'Offline'"
            )
            assert "800 kg" in await page.locator(f".wb[data-waybill='{b}']").inner_text()
            await page.screenshot(path=shots / "driver-offline-english.png")
            assert not errors, errors
        finally:
            await browser.close()
