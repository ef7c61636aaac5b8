"""The disclosure page (信息公开, issue 15) in Debian's Chromium at a desktop size: the
demo's plan, project list and fund allocation, approved monthly report and decision,
Chinese first, English on the switch, no request outside this server, no personal
data. The screenshots go to ``DEHONG_DISCLOSURE_SHOTS`` (``docs`` rewrites
docs/disclosure.png and docs/disclosure-en.png) or the test's tmp dir."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from cloud.supervision.seed import seed_demo
from tests.cloud.test_phone_page import CHROMIUM, _need_chromium, serve
from tests.support.api import ApiEnv, api_env

pytestmark = [pytest.mark.timeout(180), pytest.mark.browser]
playwright_api = pytest.importorskip("playwright.async_api")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        yield e


async def test_the_disclosure_page_in_a_browser(env: ApiEnv, tmp_path: Path) -> None:
    _need_chromium()
    async with env.db.transaction() as s:
        await seed_demo(s)
    shots = os.environ.get("DEHONG_DISCLOSURE_SHOTS")
    out = (ROOT / "docs") if shots == "docs" else Path(shots or tmp_path)
    async with serve(env) as base, playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = await browser.new_context(
                viewport={"width": 1366, "height": 900},
                locale="zh-CN",
                timezone_id="Asia/Shanghai",
            )
            page = await context.new_page()
            foreign: list[str] = []
            errors: list[str] = []
            host = urlsplit(base).netloc

            def seen(req: Any) -> None:
                if urlsplit(req.url).netloc not in (host, ""):
                    foreign.append(req.url)

            page.on("request", seen)
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{base}/disclosure")
            await page.wait_for_selector("#projects table.funds")
            text = await page.locator("main").inner_text()
            for want in (
                "信息公开",
                "实施方案",
                "项目清单与资金安排",
                "2026年11月运营工作月报",
                "关于物流信息系统验收时间调整的决定",
                "农村电子商务信息系统",
                "600.00",
            ):
                assert want in text, want
            assert await page.locator("#projects table.funds tr").count() == 6  # head, 4, total
            for leak in ("0692-2100000", "李工", "demo-seed"):
                assert leak not in await page.content(), leak
            await page.screenshot(path=str(out / "disclosure.png"), full_page=True)
            await page.click("#lang-switch")
            assert await page.locator("html").get_attribute("data-lang") == "en"
            en = await page.locator("main").inner_text()
            assert "Information disclosure" in en and "Project list and fund allocation" in en
            await page.screenshot(path=str(out / "disclosure-en.png"))
            assert not foreign, foreign
            assert not errors, errors
        finally:
            await browser.close()
