"""The wall in Debian's Chromium (issue 14): /screen with a display key at 1920x1080
draws every panel with data, makes no request outside this server, switches to
English, and moves when the data does. The screenshot goes to ``DEHONG_SCREEN_SHOTS``
(``docs`` rewrites docs/screen.png) or the test's tmp dir."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from cloud.commerce.screen.catalogue import SCREEN_PANELS
from tests.cloud import screen_world
from tests.cloud.screen_cases import other_alarms
from tests.cloud.test_phone_page import CHROMIUM, _need_chromium, serve
from tests.support.api import ApiEnv, api_env

pytestmark = [pytest.mark.timeout(180), pytest.mark.browser]
playwright_api = pytest.importorskip("playwright.async_api")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        yield e


async def test_the_wall_draws_every_panel_offline_and_live(env: ApiEnv, tmp_path: Path) -> None:
    _need_chromium()
    await screen_world.build(env, env.tsdb, int(time.time() * 1000))
    admin = await env.headers(screen_world_role(), "533100")
    r = await env.client.post(
        "/api/v1/apikeys", json={"name": "hall wall", "role": "display", "county": "533100"},
        headers=admin,
    )  # fmt: skip
    key = r.json()["key"]
    shots = os.environ.get("DEHONG_SCREEN_SHOTS")
    out = (ROOT / "docs") if shots == "docs" else Path(shots or tmp_path)
    async with serve(env) as base, playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=["--kiosk"])  # fmt: skip
        try:
            context = await browser.new_context(
                viewport={"width": 1920, "height": 1080}, locale="zh-CN",
                timezone_id="Asia/Shanghai",
            )  # fmt: skip
            page = await context.new_page()
            foreign: list[str] = []
            errors: list[str] = []
            host = urlsplit(base).netloc

            def seen(req: Any) -> None:
                if urlsplit(req.url).netloc not in (host, ""):
                    foreign.append(req.url)

            page.on("request", seen)
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{base}/screen?poll=2#key={key}")
            await page.wait_for_selector("#screen[data-state='live']", timeout=30_000)
            assert "#key=" not in page.url  # the key leaves the address bar
            for pid in SCREEN_PANELS:
                card = page.locator(f"#p-{pid}")
                assert await card.count() == 1, pid
                assert await card.get_attribute("data-status") == "ok", pid
                assert await card.get_attribute("data-stale") == "0", pid
            # numbers and charts drawn, not placeholders
            assert await page.locator("#p-sales_month .big").inner_text() != "–"
            assert await page.locator("#p-coldroom_temp polyline").count() == 4
            assert await page.locator("#p-sales_by_county rect").count() == 4
            assert await page.locator("#p-top_products tr").count() >= 3
            assert await page.locator("#p-vehicles_map .leaflet-interactive").count() == 8
            await page.wait_for_timeout(800)  # tiles
            await page.screenshot(path=str(out / "screen.png"))
            # live: a new alarm shows within a poll or two
            before = int(await page.locator("#p-open_alarms .big").inner_text())
            await other_alarms(env, 2)
            for _ in range(100):  # the page's CSP refuses eval: wait_for_function cannot run
                if await page.locator("#p-open_alarms .big").inner_text() == str(before + 2):
                    break
                await asyncio.sleep(0.1)
            assert await page.locator("#p-open_alarms .big").inner_text() == str(before + 2)
            await page.click("#lang-switch")
            assert await page.locator("#p-open_alarms h2").inner_text() == "Open alarms"
            await page.screenshot(path=str(tmp_path / "screen-en.png"))
            assert foreign == [], foreign
            assert errors == [], errors
        finally:
            await browser.close()


def screen_world_role() -> Any:
    from cloud.auth.principal import Role

    return Role.PREFECTURE_ADMIN
