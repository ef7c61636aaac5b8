"""The academy's H5 pages in Debian's Chromium at a phone viewport (390x844): the
training calendar (/h5/training) with the demo's sessions, Chinese first and English
on the switch; the trainee's check-in page opened from a fresh code, filled and sent;
a certificate's verification page. No request leaves this server. Screenshots go to
``DEHONG_SCREEN_SHOTS`` (``docs`` rewrites docs/training*.png) or the test's tmp dir."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from cloud.services.training.demo import TRAINEES, seed_demo
from cloud.services.training.service import verify_url
from cloud.services.training.storage import Certificate, TrainingSession
from tests.cloud.test_phone_page import CHROMIUM, _need_chromium, serve
from tests.cloud.training_support import fresh_token, ring
from tests.support.api import ApiEnv, api_env

pytestmark = [pytest.mark.timeout(180), pytest.mark.browser]
playwright_api = pytest.importorskip("playwright.async_api")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        yield e


async def test_calendar_checkin_and_verification_on_a_phone(env: ApiEnv, tmp_path: Path) -> None:
    _need_chromium()
    async with env.db.transaction() as s:
        seeded = await seed_demo(s, ring(env))
        past = await s.get(TrainingSession, seeded["session"])
        cert = await s.scalar(select(Certificate).where(Certificate.id == seeded["certificate"]))
        assert past is not None and cert is not None
        past.status = "scheduled"
    shots = os.environ.get("DEHONG_SCREEN_SHOTS")
    out = (ROOT / "docs") if shots == "docs" else Path(shots or tmp_path)
    async with serve(env) as base, playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = await browser.new_context(
                viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                has_touch=True, locale="zh-CN", timezone_id="Asia/Shanghai",
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
            await page.goto(f"{base}/h5/training")
            cards = page.locator(".card.sess")
            assert await cards.count() == 3  # the demo's upcoming sessions
            body = await page.locator("main").inner_text()
            assert "培训日历" in body and "直播带货实操" in body and "余位" in body
            assert not any(name in body for name, _ in TRAINEES)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the page scrolls sideways ({width} px)"
            await page.screenshot(path=str(out / "training.png"), full_page=True)
            await page.click("#lang-switch")
            assert "Training calendar" in await page.locator("main").inner_text()
            await page.click("#lang-switch")
            # the trainee's phone: the room's QR opens the check-in page
            name, phone = TRAINEES[4]  # enrolled, not checked in
            await page.goto(f"{base}/h5/training/checkin?t={fresh_token(env, past.id)}")
            await page.fill("#phone", phone)
            await page.screenshot(path=str(out / "training-checkin.png"))
            await page.click("form.ck button")
            await page.wait_for_selector(".big.ok")
            assert "签到成功" in await page.locator("main").inner_text()
            # the certificate's QR
            await page.goto(verify_url(base, cert))
            text = await page.locator("main").inner_text()
            assert "证书有效" in text and "岩*" in text
            await page.screenshot(path=str(out / "training-certificate.png"), full_page=True)
            assert not foreign, foreign
            assert not errors, errors
        finally:
            await browser.close()
