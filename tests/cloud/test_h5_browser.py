"""The public H5 site in Debian's Chromium at a phone viewport (390x844): the home page
draws its figures and sections in Chinese, switches to English, makes no request
outside this server; the trace lookup names a bad code and takes a good one to the
resolver's trace page. Screenshots go to ``DEHONG_H5_SHOTS`` (``docs`` rewrites
docs/h5-home.png, docs/h5-home-sections.png, docs/h5-home-en.png and
docs/h5-trace.png) or the test's tmp dir."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from cloud.auth.principal import Role
from cloud.services.stations.seed import seed_demo as seed_stations
from cloud.services.training.demo import seed_demo as seed_training
from tests.cloud import h5_support
from tests.cloud.h5_support import LOT
from tests.cloud.test_phone_page import CHROMIUM, _need_chromium, serve
from tests.cloud.trace_cases import G
from tests.support.api import ApiEnv, api_env

pytestmark = [pytest.mark.timeout(180), pytest.mark.browser]
playwright_api = pytest.importorskip("playwright.async_api")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        await h5_support.build(e, await e.headers(Role.PREFECTURE_ADMIN, "533100"))
        async with e.db.transaction() as s:  # the headline slots' sources (cloud/wiring.py)
            await seed_stations(s)
            await seed_training(s)
        yield e


async def test_h5_home_and_trace_lookup_on_a_phone(env: ApiEnv, tmp_path: Path) -> None:
    _need_chromium()
    shots = os.environ.get("DEHONG_H5_SHOTS")
    out = (ROOT / "docs") if shots == "docs" else Path(shots or tmp_path)
    async with serve(env) as base, playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = await browser.new_context(
                viewport={"width": 390, "height": 844}, device_scale_factor=2,
                locale="zh-CN", timezone_id="Asia/Shanghai", has_touch=True,
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
            await page.goto(f"{base}/h5/")
            figure = page.locator('.figure[data-key="online_retail_sales"] .value')
            assert await figure.inner_text() == "1,000.00"
            # the slots wired to the public-service packages (cloud/wiring.py): the seeded
            # stations open; the four demo households are too few to show
            slot = page.locator('.figure[data-key="stations_open"] .value')
            assert int(await slot.inner_text()) > 0
            few = page.locator('.figure[data-key="households_linked"] .value .zh')
            assert await few.inner_text() == "数量过少，不予公开"
            assert await page.locator(".tile").count() == 6
            # nothing wider than the phone: no sideways scrolling
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            # what the phone shows: the first screen, then the end of the page (the bottom
            # navigation is sticky, so a full-page capture would draw it mid-page)
            await page.screenshot(path=str(out / "h5-home.png"))
            await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            await page.screenshot(path=str(out / "h5-home-sections.png"))
            await page.evaluate("window.scrollTo(0, 0)")
            await page.click("#lang-switch")
            assert (
                await page.locator("h1 .en").inner_text()
                == "Dehong rural e-commerce public service"
            )
            assert await page.locator("h1 .zh").is_hidden()
            await page.screenshot(path=str(out / "h5-home-en.png"))
            await page.click("#lang-switch")  # back to Chinese (kept in localStorage)

            await page.goto(f"{base}/h5/trace")
            await page.fill("#code", f"https://x.example/01/{G[:-1]}0/10/{LOT}")
            await page.click("#lookup-form button[type=submit]")
            await page.wait_for_selector("#error")
            assert "校验位" in await page.locator("#error .zh").inner_text() or "check digit" in (
                await page.locator("#error .en").inner_text()
            )
            await page.screenshot(path=str(out / "h5-trace.png"))
            await page.fill("#code", LOT)
            await page.click("#lookup-form button[type=submit]")
            await page.wait_for_url(f"**/01/{G}/10/{LOT}")
            assert not foreign, foreign
            assert not errors, errors
        finally:
            await browser.close()
