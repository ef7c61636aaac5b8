"""The public-service H5 pages of issue 15 (/h5/showcase, /h5/policies) in Debian's
Chromium at a phone viewport (390x844): Chinese first, English on the switch, no
request outside this server, no script error, nothing wider than the screen. The
screenshots go to ``DEHONG_SCREEN_SHOTS`` (``docs`` rewrites docs/services_*.png) or the
test's tmp dir."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cloud.inspections.files import files_for
from cloud.services.registry.demo import seed_demo
from tests.cloud.services_registry_cases import unlimited
from tests.cloud.test_phone_page import CHROMIUM, _need_chromium, serve
from tests.support.api import ApiEnv, api_env

pytestmark = [pytest.mark.timeout(180), pytest.mark.browser]
playwright_api = pytest.importorskip("playwright.async_api")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        unlimited(e)
        async with e.db.transaction() as s:
            await seed_demo(s, files_for(e.settings))
        yield e


async def test_showcase_and_policies_on_a_phone(env: ApiEnv, tmp_path: Path) -> None:
    _need_chromium()
    shots = os.environ.get("DEHONG_SCREEN_SHOTS")
    out = (ROOT / "docs") if shots == "docs" else Path(shots or tmp_path)
    async with serve(env) as base, playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 390, "height": 844},
                                                device_scale_factor=2, locale="zh-CN",
                                                is_mobile=True, has_touch=True)  # fmt: skip
            page = await context.new_page()
            foreign: list[str] = []
            errors: list[str] = []
            host = urlsplit(base).netloc
            page.on("request", lambda req: foreign.append(req.url)
                    if urlsplit(req.url).netloc not in (host, "") else None)  # fmt: skip
            page.on("pageerror", lambda e: errors.append(str(e)))

            async def check_fits() -> None:
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, width

            # the showcase: products with photos, brand and certificate tags
            await page.goto(f"{base}/h5/showcase")
            assert await page.locator("a.card.item").count() == 4
            assert await page.locator(".tag.brand >> visible=true").count() == 4
            assert "德宏特色展示" in await page.locator("h1").inner_text()
            imgs = await page.evaluate("[...document.images].map(i => i.naturalWidth)")
            assert imgs and all(w > 0 for w in imgs), imgs
            await check_fits()
            await page.screenshot(path=str(out / "services_showcase.png"), full_page=True)
            # an entry: its lots link to the trace pages
            await page.locator("a.card.item").first.click()
            href = await page.locator(".lots a").first.get_attribute("href")
            assert href is not None and href.startswith("/01/") and "/10/" in href
            await check_fits()
            await page.screenshot(path=str(out / "services_showcase_item.png"), full_page=True)
            # English on the switch
            await page.goto(f"{base}/h5/showcase?section=certified")
            await page.locator("#lang-switch").click()
            assert await page.locator("html").get_attribute("data-lang") == "en"
            assert "Dehong showcase" in await page.locator("h1").inner_text()
            assert (
                await page.locator(".tag.cert >> visible=true").first.inner_text() == "green food"
            )
            await page.screenshot(path=str(out / "services_certified_en.png"), full_page=True)
            await page.locator("#lang-switch").click()
            # policies: three published, the scheduled one and the draft not shown
            await page.goto(f"{base}/h5/policies")
            assert await page.locator("a.card.item").count() == 3
            await check_fits()
            await page.screenshot(path=str(out / "services_policies.png"), full_page=True)
            await page.locator("a.card.item", has_text="实施方案").click()
            assert await page.locator(".article-body h2").count() == 1
            assert await page.locator(".article-body a[rel~='noopener']").count() == 1
            await check_fits()
            await page.screenshot(path=str(out / "services_policy.png"), full_page=True)
            assert foreign == [] and errors == [], (foreign, errors)
        finally:
            await browser.close()
