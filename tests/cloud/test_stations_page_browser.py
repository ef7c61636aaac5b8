"""The H5 stations map (/h5/stations) in Debian's Chromium at a phone viewport
(390x844): every seeded station is a point of the inline SVG, the page makes no
request outside this server, and switches to English. Screenshots go to
``DEHONG_STATIONS_SHOTS`` (``docs`` rewrites docs/h5-stations*.png) or tmp_path."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from cloud.services.stations.seed import STATIONS, seed_demo
from tests.cloud.test_phone_page import CHROMIUM, _need_chromium, serve
from tests.support.api import ApiEnv, api_env

pytestmark = [pytest.mark.timeout(180), pytest.mark.browser]
playwright_api = pytest.importorskip("playwright.async_api")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        yield e


async def test_stations_map_at_a_phone_viewport(env: ApiEnv, tmp_path: Path) -> None:
    _need_chromium()
    async with env.db.transaction() as s:
        await seed_demo(s)
    shots = os.environ.get("DEHONG_STATIONS_SHOTS")
    out = (ROOT / "docs") if shots == "docs" else Path(shots or tmp_path)
    async with serve(env) as base, playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = await browser.new_context(
                viewport={"width": 390, "height": 844}, device_scale_factor=2,
                is_mobile=True, locale="zh-CN",
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
            await page.goto(f"{base}/h5/stations")
            shown = [x for x in STATIONS if x[7] != "closed"]
            assert await page.locator("svg.st-map circle").count() == len(shown)
            assert await page.locator("svg.st-map path.county").count() == 5
            assert await page.locator(".st-list li").count() == len(shown)
            assert "村级服务点" in await page.locator("h1 + .counts").inner_text()
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, "no horizontal scroll on a phone"
            await page.screenshot(path=str(out / "h5-stations.png"))
            await page.click("#lang-switch")
            assert "village points" in await page.locator(".counts").inner_text()
            await page.screenshot(path=str(out / "h5-stations-en.png"))
            assert not foreign, foreign
            assert not errors, errors
        finally:
            await browser.close()
