"""The offline-first phone page (/m/trace) in a real Chromium against the real API.

One browser run (headless Debian Chromium driven by Playwright, no browser download)
against uvicorn serving the app on a free port (SQLite): log in, record steps with the
network cut, see them waiting, restore the network and find each event on the server
exactly once; a response lost after the server stored the step is retried and answered
"unchanged" (still once); a conflict (409) and a refusal (404 with its reason) stay in
"needs attention" until discarded; the page reopens offline from its service worker;
a lot's QR code is read through Chromium's fake camera (a Y4M made from a QR image).
Screenshots (390x844) go to ``tmp_path`` or ``$DEHONG_PHONE_SHOTS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloud.auth.principal import Role
from cloud.auth.storage import User
from cloud.catalog.gln import location_key
from cloud.catalog.storage import Location
from cloud.trace.lots.storage import TraceLot
from tests.cloud.trace_cases import _org
from tests.support.api import HOME, PASSWORD, ApiEnv, api_env
from tests.support.epcis import add_product, gln, gtin, lot_uri, sscc

CHROMIUM = os.environ.get("DEHONG_CHROMIUM", "/usr/bin/chromium")
G = gtin(7701)
EXISTING = "CF-2026-007"
USER = "coop-clerk"

pytestmark = [pytest.mark.timeout(120)]

playwright_api = pytest.importorskip("playwright.async_api")  # in the dev extras


def _need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing: scripts/services.sh installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)")


def qr_y4m(text: str, path: Path) -> Path:
    """A 640x480 Y4M video (a few identical frames) of the QR code of ``text``, for
    Chromium's --use-file-for-fake-video-capture."""
    cv2 = pytest.importorskip("cv2")
    np = pytest.importorskip("numpy")
    qr = cv2.QRCodeEncoder.create().encode(text)  # modules, 0 = dark, 255 = light
    qr = cv2.resize(qr, (300, 300), interpolation=cv2.INTER_NEAREST)
    frame = np.full((480, 640), 235, dtype=np.uint8)  # a light grey page
    frame[90:390, 170:470] = np.where(qr > 0, 250, 20).astype(np.uint8)
    chroma = np.full((240, 320), 128, dtype=np.uint8)
    with path.open("wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(5):
            f.write(b"FRAME\n")
            f.write(frame.tobytes() + chroma.tobytes() + chroma.tobytes())
    return path


async def _seed(env: ApiEnv) -> dict[str, Any]:
    org = await _org(env, HOME)
    await add_product(env, G, org, HOME)
    ids: dict[str, int] = {}
    async with env.db.transaction() as s:
        for i, (name, kind) in enumerate(
            (("芒市仓库 1", "warehouse"), ("冷链车 1 号车厢", "vehicle_compartment"))
        ):
            key = location_key(gln(880_000 + i))
            loc = Location(
                kind=kind, name=name, county=HOME, org_id=org, gln=key.gln,
                gln_extension=key.extension, created_by="test",
            )  # fmt: skip
            s.add(loc)
            await s.flush()
            ids[kind] = loc.id
        s.add(TraceLot(gtin=G, lot=EXISTING, county=HOME, org_id=org, created_by="test"))
    await env.add_user(USER, Role.OPERATOR, HOME)
    async with env.db.transaction() as s:
        user = await s.scalar(select(User).where(User.username == USER))
        assert user is not None
        user.org_id = str(org)
    return {"org": org, **ids}


@contextlib.asynccontextmanager
async def serve(env: ApiEnv) -> AsyncIterator[str]:
    """The app on a free loopback port (uvicorn in this event loop)."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        env.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _events(env: ApiEnv, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = await env.client.get("/api/v1/epcis/events", params={"perPage": 1000}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]


async def _count(page: Any, sel: str) -> int:
    return int(await page.inner_text(sel))


async def _wait_count(page: Any, sel: str, n: int, wait_ms: float = 20_000) -> None:
    await page.wait_for_function(
        "([sel, n]) => document.querySelector(sel).textContent === String(n)",
        arg=[sel, n],
        timeout=wait_ms,
    )


async def test_page_and_shell_are_served(env: ApiEnv) -> None:
    """The page, its service worker (version and shell filled in, scope allowed) and
    every asset the worker caches."""
    from cloud.trace.phone.router import SHELL_ASSETS, shell_version

    page = await env.client.get("/m/trace")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'data-version="{shell_version()}"' in page.text and 'lang="zh-CN"' in page.text
    assert "script-src 'self';" in page.headers["content-security-policy"]
    sw = await env.client.get("/m/trace/sw.js")
    assert sw.status_code == 200 and sw.headers["service-worker-allowed"] == "/m/trace"
    assert f'"{shell_version()}"' in sw.text and "__SHELL__" not in sw.text
    for name in SHELL_ASSETS:
        assert f'"/m/trace/static/{name}"' in sw.text, name
        r = await env.client.get(f"/m/trace/static/{name}")
        assert r.status_code == 200 and r.content, name
    assert (await env.client.get("/m/trace/static/vendor/jsQR.LICENSE")).status_code == 200
    assert (await env.client.get("/m/trace/static/../router.py")).status_code == 404


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        yield e


@pytest.mark.browser
async def test_phone_page_offline_queue_sync_conflict_and_scan(env: ApiEnv, tmp_path: Path) -> None:
    _need_chromium()
    world = await _seed(env)
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    shots = Path(os.environ.get("DEHONG_PHONE_SHOTS") or tmp_path / "shots")
    video = await asyncio.to_thread(qr_y4m, lot_uri(G, EXISTING), tmp_path / "qr.y4m")

    async with serve(env) as base, playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        try:
            context = await browser.new_context(
                viewport={"width": 390, "height": 844},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
                locale="zh-CN",
                timezone_id="Asia/Shanghai",
                permissions=["camera"],
            )
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
            await page.goto(f"{base}/m/trace")
            await page.wait_for_selector("body[data-ready='1']")
            await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
            parsed = await page.evaluate(
                """([g, s]) => import('/m/trace/static/gs1.js').then((m) => [
                    m.parseCode(`https://id.gs1.org/01/${g}/10/A%2F1`),
                    m.parseCode(`https://example.com/x/01/${g.slice(1)}/10/B?c=1`),
                    m.parseCode(`https://id.gs1.org/00/${s}`),
                    m.parseCode(s),
                    m.parseCode(`(01)${g}(10)C7`),
                    m.parseCode(`https://id.gs1.org/01/${g.slice(0, 13)}9/10/D`),
                    m.parseCode("hello"),
                ])""",
                [G, sscc(1)],
            )
            assert parsed == [
                {"kind": "lot", "gtin": G, "lot": "A/1"},
                {"kind": "lot", "gtin": G, "lot": "B"},
                {"kind": "container", "sscc": sscc(1)},
                {"kind": "container", "sscc": sscc(1)},
                {"kind": "lot", "gtin": G, "lot": "C7"},
                {"kind": "invalid", "reason": "gtin"},
                {"kind": "unknown", "text": "hello"},
            ], parsed

            # -- log in; the pickers are fetched and cached ------------------------
            assert await page.is_visible("#login")
            await page.fill("#username", USER)
            await page.fill("#password", PASSWORD)
            await page.click("#login-button")
            await page.wait_for_selector("#work:not([hidden])")
            await page.wait_for_function("() => globalThis.dhPhone.state.lists.at !== null")
            assert await page.evaluate("globalThis.dhPhone.state.lists.locations.length") == 2
            await page.screenshot(path=shots / "phone-harvest.png")

            # -- offline: record a harvest and a store (lot read by the camera) ------
            await context.set_offline(True)
            await page.wait_for_selector("#net.off")
            await page.select_option("#f-gtin-pick", G)
            await page.fill("#f-lot", "CF-2026-101")
            await page.fill("#f-quantity", "120")
            assert await page.input_value("#f-org_id") == str(world["org"])  # from the product
            await page.click("#record")
            await _wait_count(page, "#waiting-count", 1)

            await page.click("#step-store")
            await page.click("#scan")
            await page.wait_for_selector("#items li[data-kind='lot']", timeout=15_000)
            assert G in await page.inner_text("#items") and EXISTING in await page.inner_text(
                "#items"
            )
            assert await page.get_attribute("#scan-video", "data-decoder") in (
                "jsQR",
                "BarcodeDetector",
            )
            await page.fill("#code", sscc(5501))  # a case, typed
            await page.press("#code", "Enter")
            await page.select_option("#f-location_id", str(world["warehouse"]))
            await page.click("#record")
            await _wait_count(page, "#waiting-count", 2)
            assert await page.locator("#waiting li").count() == 2
            await page.wait_for_timeout(300)
            await page.screenshot(path=shots / "phone-offline-waiting.png")
            assert await _events(env, admin) == []  # nothing left the phone
            # no busy loop while offline: one try per record, then the backoff timer
            await page.wait_for_timeout(1500)
            attempts = await page.evaluate(
                "import('/m/trace/static/queue.js').then(m => m.allOps())"
                ".then(ops => ops.map(o => o.attempts))"
            )
            assert sum(attempts) <= 4, attempts
            assert await page.evaluate("globalThis.dhPhone.syncer.nextAt > Date.now()")

            # -- the signal returns: both arrive, once each -------------------------
            await context.set_offline(False)
            await _wait_count(page, "#waiting-count", 0)
            sent = await page.eval_on_selector_all(
                "#sent li", "els => els.map(e => e.dataset.eventId)"
            )
            assert len(sent) == 2 and all(s.startswith("urn:uuid:") for s in sent)
            ids = [e["eventID"] for e in await _events(env, admin)]
            assert sorted(ids) == sorted(sent), ids
            # the harvested lot joins the cached lot picker
            await page.wait_for_function(
                "() => globalThis.dhPhone.state.lists.lots.some(l => l.lot === 'CF-2026-101')"
            )

            # -- a response lost after the server stored the step: retried, unchanged
            lost: list[str] = []

            async def lose_first(route: Any) -> None:
                if not lost:
                    response = await route.fetch()  # reaches the server
                    lost.append(str(response.status))
                    await route.abort("connectionreset")  # ... the phone never hears
                else:
                    await route.continue_()

            await page.route("**/api/v1/trace/ops/**", lose_first)
            await page.click("#step-receive")
            await page.fill("#code", lot_uri(G, EXISTING))
            await page.press("#code", "Enter")
            await page.select_option("#f-location_id", str(world["warehouse"]))
            await page.select_option("#f-source_id", str(world["vehicle_compartment"]))
            await page.click("#record")
            await page.wait_for_function("() => document.querySelector('#waiting .muted')")
            # the periodic retry (backoff, a few seconds) sends it again
            await _wait_count(page, "#waiting-count", 0, wait_ms=30_000)
            assert lost == ["201"], lost
            first = await page.eval_on_selector(
                "#sent li", "e => [e.dataset.eventId, e.textContent]"
            )
            assert "已有（未改变）" in first[1], first  # the server answered 200 unchanged
            ids = [e["eventID"] for e in await _events(env, admin)]
            assert ids.count(first[0]) == 1 and len(ids) == 3, ids
            await page.unroute("**/api/v1/trace/ops/**")

            # -- the other steps' forms make bodies the server takes -----------------
            lot_code = lot_uri(G, EXISTING)
            await page.click("#step-process")
            await page.fill("#code", lot_code)
            await page.press("#code", "Enter")
            await page.select_option("#f-process", "drying")
            await page.select_option("#f-output_gtin", G)
            await page.fill("#f-output_lot", "CF-2026-201")
            await page.fill("#f-quantity", "80")
            await page.click("#record")
            await page.click("#step-pack")
            await page.fill("#code", lot_code)
            await page.press("#code", "Enter")
            await page.fill("#f-parent", sscc(5502))
            await page.click("#record")
            await page.click("#step-test")
            await page.fill("#code", lot_code)
            await page.press("#code", "Enter")
            await page.fill("#f-value", "11.5")
            await page.fill("#f-unit", "%")
            await page.fill("#f-limit", "12.5")
            await page.select_option("#f-method", "lab")
            await page.click("#record")
            await page.click("#step-load")
            await page.fill("#code", f"https://id.gs1.org/00/{sscc(5502)}")
            await page.press("#code", "Enter")
            await page.select_option("#f-location_id", str(world["vehicle_compartment"]))
            await page.select_option("#f-destination_id", str(world["warehouse"]))
            await page.click("#record")
            await page.wait_for_function(
                """() => document.querySelectorAll('#sent li').length === 7
                    || document.querySelector('#attention-count').textContent !== '0'"""
            )
            assert await _count(page, "#attention-count") == 0, await page.inner_text("#attention")
            steps = sorted(e.get("bizStep", e["type"]) for e in await _events(env, admin))
            assert len(steps) == 7, steps

            # -- a conflict (409) and a refusal (404) stay, with the reason ----------
            await context.set_offline(True)
            await page.click("#step-store")
            await page.fill("#code", lot_uri(G, EXISTING))
            await page.press("#code", "Enter")
            await page.select_option("#f-location_id", str(world["warehouse"]))
            await page.click("#record")
            await _wait_count(page, "#waiting-count", 1)
            await page.fill("#code", lot_uri(G, "NO-SUCH-LOT"))
            await page.press("#code", "Enter")
            await page.select_option("#f-location_id", str(world["warehouse"]))
            await page.click("#record")
            await _wait_count(page, "#waiting-count", 2)
            reused = await page.eval_on_selector("#waiting li", "e => e.dataset.eventId")
            # another record under the same eventID reached the server first
            r = await env.client.post(
                "/api/v1/trace/ops/load",
                json={
                    "event_id": reused,
                    "location_id": world["vehicle_compartment"],
                    "lots": [{"gtin": G, "lot": EXISTING}],
                },
                headers=admin,
            )
            assert r.status_code == 201, r.text
            await context.set_offline(False)
            await _wait_count(page, "#attention-count", 2)
            assert await _count(page, "#waiting-count") == 0
            text = await page.inner_text("#attention")
            assert "冲突" in text and "409" in text, text
            assert "404" in text and "NO-SUCH-LOT" in text, text
            await page.evaluate("document.querySelector('#toast').hidden = true")
            await page.screenshot(path=shots / "phone-attention.png", full_page=True)
            await page.click(f"#attention li[data-event-id='{reused}'] button")
            await _wait_count(page, "#attention-count", 1)

            # -- reopened with no network: the service worker serves the shell -------
            await context.set_offline(True)
            response = await page.reload()
            assert response is not None and response.from_service_worker
            await page.wait_for_selector("body[data-ready='1']")
            await page.wait_for_selector("#work:not([hidden])")
            assert await _count(page, "#attention-count") == 1
            await page.click("#lang")
            assert await page.inner_text("#step-harvest") == "Harvest"
            await page.screenshot(path=shots / "phone-offline-reload-en.png")

            # -- a token the server no longer takes: kept, sent after the next login --
            await context.set_offline(False)
            await page.evaluate("globalThis.dhPhone.state.token = 'expired'")
            await page.click("#step-store")
            await page.fill("#code", lot_uri(G, EXISTING))
            await page.press("#code", "Enter")
            await page.select_option("#f-location_id", str(world["warehouse"]))
            await page.click("#record")
            await page.wait_for_selector("#login:not([hidden])")
            assert "Login expired" in await page.inner_text("#login-error")
            assert await _count(page, "#waiting-count") == 1
            await page.fill("#password", PASSWORD)
            await page.click("#login-button")
            await _wait_count(page, "#waiting-count", 0)
            assert len(await _events(env, admin)) == 9  # 7 from the phone, the rival, this one
            assert errors == [], errors
        finally:
            await browser.close()
    if os.environ.get("DEHONG_PHONE_SHOTS"):
        return
    shutil.rmtree(shots, ignore_errors=True)
