"""A shopper shares their city from the trace page, in Chromium (360x740, Playwright
with Debian's chromium): a valid serial's first view offers the opt-in button; pressed,
the browser's position goes once to /api/v1/public/scans/{token}/place and the scan
keeps the prefecture-level city only. No request leaves the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from cloud.auth.principal import Role
from cloud.resolver.scans.storage import Scan
from cloud.resolver.serials.keys import ensure_key
from tests.cloud.test_phone_page import CHROMIUM, _need_chromium, serve
from tests.cloud.test_trace_page_browser import shots_dir
from tests.cloud.trace_page_support import seed
from tests.support.api import ApiEnv, api_env

pytestmark = [pytest.mark.timeout(150), pytest.mark.browser]
playwright_api = pytest.importorskip("playwright.async_api")


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        e.settings.serials_key_file = tmp_path / "keys" / "serials.key"
        ensure_key(e.settings)
        yield e


async def test_share_city_from_the_page(env: ApiEnv) -> None:
    _need_chromium()
    pw = await seed(env, n=23)
    h = await env.headers(Role.COUNTY_ADMIN, pw.county)
    r = await env.client.post(f"/api/v1/trace/lots/{pw.gtin}/{pw.lot}/serial-ranges",
                              json={"count": 2}, headers=h)  # fmt: skip
    rid = r.json()["id"]
    rows = (await env.client.get(f"/api/v1/trace/serial-ranges/{rid}/uris", headers=h)).text
    label = urlsplit(rows.splitlines()[1].split(",")[-1])
    async with serve(env) as base, playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = await browser.new_context(
                viewport={"width": 360, "height": 740}, is_mobile=True, locale="zh-CN",
                geolocation={"latitude": 31.23, "longitude": 121.47},  # Shanghai
                permissions=["geolocation"],
            )  # fmt: skip
            foreign: list[str] = []

            async def route(r: Any) -> None:
                if r.request.url.startswith(base + "/") or r.request.url.startswith("data:"):
                    await r.continue_()
                else:
                    foreign.append(r.request.url)
                    await r.abort()

            await context.route("**/*", route)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{base}{label.path}?{label.query}")
            assert "这是此码的首次查询" in await page.inner_text("#code")
            button = page.locator("#share-place")
            await button.wait_for(state="visible", timeout=10_000)
            await button.click()
            await page.wait_for_function(
                "() => document.querySelector('#share-place-state').textContent.includes('上海')",
                timeout=10_000,
            )
            await page.screenshot(path=str(shots_dir() / "share-city.png"))
            assert errors == [] and foreign == []
        finally:
            await browser.close()
    async with env.db.session() as s:
        scans = list(await s.scalars(select(Scan)))
    assert [(x.serial, x.city, x.lat, x.lon) for x in scans] == [
        ("1", "310000", 31.230372, 121.473662)
    ]
