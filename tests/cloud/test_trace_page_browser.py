"""The consumer trace page in a real browser: Debian's Chromium, headless (Playwright
for Python, no browser download), at a phone's 360x740 viewport, against uvicorn
serving the app (SQLite) with the seeded lot of tests/cloud/trace_page_support.py.

- the scanned URI shows the lot, the 承诺达标合格证, the evidence charts and 已验证 (the
  proofs checked by the page's own script, WebCrypto first);
- as WeChat's in-app browser (its MicroMessenger user agent) without WebCrypto (plain
  HTTP in WeChat's older WebView) the vendored @noble fallback verifies the same
  proofs, with no script error and no horizontal overflow;
- every request stays on the server's origin (any other is aborted and fails the test),
  and the first view is under 300 KB transferred (measured by the browser);
- one stored event altered in the database: the page warns and marks the step;
- a forged code shows 此码非本平台发放 (with helper ``serials``' check_code merged);
- screenshots go to ``$DEHONG_ARTIFACTS`` (default ``.ci/artifacts``)/trace-page/.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloud.auth.principal import Role
from cloud.trace.events.storage import TraceEvent
from tests.cloud.test_phone_page import CHROMIUM, _need_chromium, serve
from tests.cloud.trace_page_support import seed
from tests.support.api import ApiEnv, api_env

pytestmark = [pytest.mark.timeout(150), pytest.mark.browser]
playwright_api = pytest.importorskip("playwright.async_api")

ROOT = Path(__file__).resolve().parents[2]
FIRST_VIEW_LIMIT = 300 * 1024
#: WeChat 7's in-app browser on Android (XWEB, Chromium 78), as its requests carry it
WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 10; V1914A Build/QP1A.190711.020; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.62 XWEB/2691 MMWEBSDK/200801 Mobile "
    "Safari/537.36 MMWEBID/5412 MicroMessenger/7.0.19.1760(0x27001335) Process/toolsmp "
    "WeChat/arm64 NetType/4G Language/zh_CN ABI/arm64"
)


def shots_dir() -> Path:
    d = Path(os.environ.get("DEHONG_ARTIFACTS") or ROOT / ".ci" / "artifacts") / "trace-page"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        yield e


class Phone:
    """A 360x740 phone context that aborts and records any request off ``base``, and
    counts the bytes the network delivered (encoded, as transferred)."""

    def __init__(self, browser: Any, base: str) -> None:
        self.browser, self.base = browser, base
        self.foreign: list[str] = []
        self.bytes = 0

    async def page(
        self, *, no_webcrypto: bool = False, token: str | None = None, user_agent: str | None = None
    ) -> Any:
        extra = {} if user_agent is None else {"user_agent": user_agent}
        context = await self.browser.new_context(
            **extra,
            viewport={"width": 360, "height": 740},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
        )

        async def route(r: Any) -> None:
            if r.request.url.startswith(self.base + "/") or r.request.url.startswith("data:"):
                await r.continue_()
            else:
                self.foreign.append(r.request.url)
                await r.abort()

        await context.route("**/*", route)
        if no_webcrypto:
            await context.add_init_script(
                "Object.defineProperty(globalThis.crypto, 'subtle', {get: () => undefined});"
            )
        if token:
            await context.add_init_script(f"localStorage.setItem('dh.token', {token!r});")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.errors = errors  # type: ignore[attr-defined]
        cdp = await context.new_cdp_session(page)
        await cdp.send("Network.enable")
        cdp.on("Network.loadingFinished", self._count)
        return page

    def _count(self, params: dict[str, Any]) -> None:
        self.bytes += int(params.get("encodedDataLength", 0))


async def _ready(page: Any) -> str:
    await page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    return await page.get_attribute("#verify", "data-state")


async def test_trace_page_in_chromium(env: ApiEnv) -> None:
    _need_chromium()
    pw = await seed(env, n=21)
    shots = shots_dir()
    url_path = f"/01/{pw.gtin}/10/{pw.lot}"
    async with serve(env) as base, playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            phone = Phone(browser, base)
            page = await phone.page()
            await page.goto(base + url_path)
            assert await _ready(page) == "verified", await page.inner_text("#verify-detail")
            first_view = phone.bytes
            assert 0 < first_view < FIRST_VIEW_LIMIT, first_view
            assert await page.get_attribute("body", "data-crypto") == "webcrypto"
            assert (await page.inner_text("#verify")).strip().endswith("已验证")
            assert pw.lot in await page.inner_text("#lot-number")
            assert "承诺达标合格证" in await page.inner_text("#hgz")
            assert await page.locator("svg.chart").count() == 2
            assert await page.locator("svg.chart polyline.series").count() >= 2
            assert await page.locator("svg.map .base-mark").count() == 1
            box = await page.locator("#hgz").bounding_box()
            assert box is not None and box["width"] <= 360
            assert await page.evaluate("document.documentElement.scrollWidth") <= 360
            img = page.locator("#grading img")
            await img.scroll_into_view_if_needed()  # lazy: not part of the first view
            await page.wait_for_function(
                "() => { const i = document.querySelector('#grading img');"
                " return i.complete && i.naturalWidth > 0; }",
                timeout=10_000,
            )
            await page.evaluate("window.scrollTo(0, 0)")
            await page.screenshot(path=str(shots / "verified.png"), full_page=True)
            await page.screenshot(path=str(shots / "first-screen.png"))
            # English
            await page.click("#lang-switch")
            assert (await page.inner_text("#verify")).strip().endswith("verified")
            assert await page.evaluate("document.documentElement.scrollWidth") <= 360
            await page.screenshot(path=str(shots / "english.png"), full_page=True)
            await page.click("#lang-switch")
            assert page.errors == []  # type: ignore[attr-defined]

            # WeChat's in-app browser with no WebCrypto: the vendored fallback verifies
            # the same proofs (the same page: the server does not look at the agent)
            fallback = await phone.page(no_webcrypto=True, user_agent=WECHAT_UA)
            await fallback.goto(base + url_path)
            assert "MicroMessenger" in await fallback.evaluate("navigator.userAgent")
            assert await _ready(fallback) == "verified"
            assert await fallback.get_attribute("body", "data-crypto") == "noble"
            assert "承诺达标合格证" in await fallback.inner_text("#hgz")
            assert await fallback.evaluate("document.documentElement.scrollWidth") <= 360
            assert fallback.errors == []  # type: ignore[attr-defined]
            await fallback.screenshot(path=str(shots / "wechat-no-webcrypto.png"))

            # the operators' view, for an operator of the lot's county logged in
            token = (await env.headers(Role.OPERATOR, pw.county))["Authorization"].split()[1]
            op = await phone.page(token=token)
            await op.goto(base + url_path)
            await op.wait_for_selector("#operator:not([hidden]) #op-events li", timeout=10_000)
            assert await op.locator("#op-events li").count() >= 6

            # one stored event altered behind the log's back: the page warns
            async with env.db.transaction() as s:
                row = await s.scalar(select(TraceEvent).where(TraceEvent.event_id == pw.test_event))
                assert row is not None
                row.body = {**row.body, "eventTime": row.body["eventTime"].replace(":00.", ":07.")}
            await page.reload()
            assert await _ready(page) == "failed"
            assert "警告" in await page.inner_text("#verify")
            tampered = page.locator(f'li.tampered[data-event-id="{pw.test_event}"]')
            assert await tampered.count() == 1
            await page.screenshot(path=str(shots / "tampered-top.png"))
            await tampered.scroll_into_view_if_needed()
            await page.screenshot(path=str(shots / "tampered.png"))
            assert phone.foreign == [], phone.foreign
        finally:
            await browser.close()
    print(f"trace page first view: {first_view} bytes transferred")


async def test_codes_in_chromium(env: ApiEnv, tmp_path: Path) -> None:
    """A forged code says 此码非本平台发放; a valid one says first scan, then the count
    and the first check time (helper serials' check_code and record_scan)."""
    _need_chromium()
    from cloud.resolver.serials.keys import ensure_key
    from cloud.resolver.serials.service import serial_uri

    env.settings.serials_key_file = tmp_path / "keys" / "serials.key"
    key, _ = ensure_key(env.settings)
    pw = await seed(env, n=22)
    h = await env.headers(Role.COUNTY_ADMIN, pw.county)
    r = await env.client.post(
        f"/api/v1/trace/lots/{pw.gtin}/{pw.lot}/serial-ranges",
        json={"count": 3, "first": 1},
        headers=h,
    )
    assert r.status_code == 201, r.text
    async with serve(env) as base, playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            phone = Phone(browser, base)
            page = await phone.page()
            await page.goto(f"{base}/01/{pw.gtin}/10/{pw.lot}/21/99999?c=AAAAAAAA")
            await _ready(page)
            assert "此码非本平台发放" in await page.inner_text("#code")
            await page.screenshot(path=str(shots_dir() / "forged.png"))
            # an issued serial with a wrong code is forged too
            await page.goto(f"{base}/01/{pw.gtin}/10/{pw.lot}/21/2?c=AAAAAAAA")
            await _ready(page)
            assert "此码非本平台发放" in await page.inner_text("#code")
            genuine = serial_uri(key, base, pw.gtin, pw.lot, "2")
            await page.goto(genuine)
            await _ready(page)
            assert "这是此码的首次查询" in await page.inner_text("#scan")
            await page.goto(genuine)
            await _ready(page)
            again = await page.inner_text("#scan")
            assert "此码已被查询 2 次" in again and "首次查询于" in again, again
            await page.screenshot(path=str(shots_dir() / "second-scan.png"))
            assert await page.get_attribute("#verify", "data-state") == "verified"
            assert phone.foreign == []
        finally:
            await browser.close()


def test_artifacts_folder_is_ignored() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8")
    assert ".ci/artifacts" in ignored
    assert asyncio.iscoroutinefunction(test_trace_page_in_chromium)
