"""``dehong bench trace-page [--short] [--store influxdb|embedded] [--profile]``: the
consumer trace page (issue 12's "Measure it") against a trivial endpoint of the same
server, in one run.

World: the demo's traced story (dehong/story.py, the same code ``dehong demo`` runs) on
a fresh PostgreSQL database (SQLite when none is reachable, reported) and a private
``influxd`` (or, ``--store embedded``, the embedded SQLite time-series store): the demo
gateways and cold rooms, the rooms' readings every 10 s for the last ``DAYS`` days (a
30-minute outage in the coffee room, drawn as a gap), rolled up by the roll-up job as
ingest leaves them; the story's anchor (the lots entering their rooms) ``DAYS`` days
ago; then the story: the coffee cherries harvested, pulped, dried and hulled into the
green beans (3 transformations), their moisture tested, graded by the camera (the
edge's vision program on a simulated tray image), stored in the green coffee room;
the mango harvested, residue-tested, packed into 4 cases, the cases stored; 三品一标
certificates, 承诺达标合格证, the brand rules; the custody evidence from the time series
and the brand decisions. A range of serials with their codes ``c`` is issued on the
coffee lot.

Then ``dehong cloud serve`` runs in its own process (its access log on, as deployed)
and ``python -m bench.load`` in another drives it:

1. closed loop, 16 clients, each endpoint after a warm-up left out: the trivial
   endpoint ``/healthz`` (public; one ``SELECT 1`` and a ping of the time-series
   store), ``/.well-known/gs1resolver`` (no I/O at all; reported), the coffee lot's
   trace page through the resolver's default link ``/01/{gtin}/10/{lot}`` with
   ``Accept: text/html`` (a browser), the same page the way a scan comes
   (``/21/{serial}?c={code}``, a different issued serial each request: its code
   checked and the scan recorded), the mango lot's page, and the redirect of the
   non-canonical ``/gtin/{gtin13}/lot/{lot}`` (301, not followed);
2. open loop, 50 requests/s on a fixed schedule, latency from each request's
   scheduled time (queueing counts): ``/healthz``, then the coffee page; and, when
   the page sustained less than 50/s in the closed loop (then 50/s overloads it and
   its queue grows for the whole run), the page again at half the rate it sustained:
   its latency when not overloaded;
3. the first view's bytes: the page and every asset it loads, fetched as a browser
   does with ``Accept-Encoding: gzip, deflate, br`` (bench/firstview.py), and, when
   Playwright and Chromium are there, Chromium at a phone viewport counting the
   transferred bytes (``encodedDataLength``) until the page has verified its proofs.

Every request carries an ``X-Forwarded-For`` from a pool of 4096 addresses (uvicorn
believes it from loopback): the resolver's per-address rate limit stays on and sees
many shoppers, as behind our proxy.

The page is served from its cache (cloud/resolver/page/cache.py) while the data it
shows is unchanged and within the UTC minute: the closed and open loops, which view
one lot (two for ``page_fruit``) over and over, measure mostly cached views, with one
build per lot and minute (and a view with a code is always rendered, its code checked
and its scan recorded). Last, timing spans of the page's sections (wall ms and SQL
statements per view), in the bench process over ASGI, one view at a time, the server
stopped: ``page_spans`` with the cache off (every view built: where a build's time
goes), ``page_spans_cached`` with it on.

Goals: page req/s >= 0.5x ``/healthz``'s; open-loop page p99 <= 3x ``/healthz``'s p99
and < 100 ms; first view < 300 KB. ``--profile``: the server runs under cProfile and
the functions with the most own time during the page loads are reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.ingest import _drop_pg, _fresh_pg, _http_ok, _wait_for
from bench.servers import PrivateInflux, cpu_seconds, free_port

DAYS = 3
POLL_MS = 10_000
CONCURRENCY = 16
OPEN_RATE = 50.0
WARM_UP_S = 2.0
FORWARDED_POOL = 4096
SERIALS = 20_000
RPS_RATIO_GOAL = 0.5
P99_RATIO_GOAL = 3.0
P99_GOAL_MS = 100.0
FIRST_VIEW_GOAL = 300 * 1024
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
ROOMS = {  # device -> (county, site, setpoint °C, rh %)
    "mangshi-coop-01.room-0": ("533103", "mangshi-coffee", 17.5, 58.0),
    "longchuan-coop-01.room-1": ("533124", "longchuan-store", 11.0, 88.0),
}


# ------------------------------------------------------------------ the world


async def _rooms(db: Any, tsdb: Any, start_ms: int, end_ms: int) -> int:
    """The demo's gateways, their cold rooms' devices and readings every 10 s (near the
    setpoint, a daily swing and door openings; the coffee room's readings stop for 30
    minutes a day ago), marked and rolled up as ingest and the roll-up job leave them."""
    from cloud.db import utcnow
    from cloud.devices.storage import Device
    from cloud.provisioning.service import provision_gateway
    from cloud.timeseries import Point
    from cloud.timeseries.rollup import RollupJob, mark

    for gateway, county, site in (
        ("mangshi-coop-01", "533103", "mangshi-coffee"),
        ("longchuan-coop-01", "533124", "longchuan-store"),
    ):
        await provision_gateway(db, county, gateway, site, gateway, actor="bench")
    async with db.transaction() as s:
        for device, (county, site, _sp, _rh) in ROOMS.items():
            s.add(
                Device(
                    id=device, county=county, kind="cold_room", site=site,
                    gateway_id=device.split(".")[0],
                    metrics=["temperature", "humidity", "setpoint"],
                    first_seen_at=utcnow(), last_seen_at=utcnow(), last_reading_ms=end_ms,
                    readings=0,
                )
            )  # fmt: skip
    outage = (end_ms - 86_400_000, end_ms - 86_400_000 + 1_800_000)
    n = 0
    for device, (county, site, setpoint, rh) in ROOMS.items():
        points = []
        for t in range(start_ms, end_ms, POLL_MS):
            if device.startswith("mangshi") and outage[0] <= t < outage[1]:
                continue
            door = 0.8 if (t // 60_000) % 240 < 3 else 0.0  # a door opened every 4 h
            temp = setpoint + 0.4 * math.sin(t / 86_400_000 * 2 * math.pi) + door
            fields = {"temperature": round(temp, 2), "humidity": rh, "setpoint": setpoint}
            points.append(Point("cold_room", device, county, site, t, fields))
        for i in range(0, len(points), 5000):
            await tsdb.write(points[i : i + 5000])
        await mark(db, points)
        n += len(points)
    await RollupJob(db, tsdb).run_until_idle()
    return n


def _keep_anchor(state: Path, anchor: datetime) -> None:
    """The story's anchor, as ``dehong demo`` keeps it (dehong/story.py reads it)."""
    state.mkdir(parents=True, exist_ok=True)
    (state / "story.json").write_text(json.dumps({"anchor": anchor.isoformat()}))


async def seed(settings: Any, db: Any, tsdb: Any, state: Path) -> dict[str, Any]:
    """The story (dehong/story.py) with ``DAYS`` days of cold-room history; the
    coffee lot's serial range. Returns what the load needs."""
    from sqlalchemy import select

    from cloud.auth.principal import Principal, Role
    from cloud.catalog.storage import LocationDevice
    from cloud.resolver.serials.keys import ensure_key as ensure_serials_key
    from cloud.resolver.serials.schemas import RangeCreate
    from cloud.resolver.serials.service import issue_range, range_uris
    from cloud.trace.log.keys import ensure_key as ensure_log_key
    from cloud.trace.lots.service import get_lot
    from dehong import story as story_mod

    ensure_log_key(settings)
    key, _ = ensure_serials_key(settings)
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - DAYS * 86_400_000 - 3_600_000
    anchor = datetime.fromtimestamp(now_ms // 1000 - DAYS * 86_400, UTC)
    _keep_anchor(state, anchor)
    t0 = time.perf_counter()
    points = await _rooms(db, tsdb, start_ms, now_ms)
    await story_mod.master_data(db)
    async with db.transaction() as s:  # the rooms' devices linked since their history
        for link in await s.scalars(
            select(LocationDevice).where(LocationDevice.device_id.in_(list(ROOMS)))
        ):
            link.since = datetime.fromtimestamp(start_ms / 1000, UTC)
    story = await story_mod.run_story(settings, db, tsdb, state, wait_s=0)
    done = await story_mod.evidence(db, tsdb, story.lots)
    coffee = story_mod.COFFEE
    admin = Principal("user", "bench", Role.PREFECTURE_ADMIN, "533100")
    async with db.transaction() as s:
        lot = await get_lot(s, coffee.gtin, coffee.lot, admin)
        assert lot is not None
        rng = await issue_range(s, lot, RangeCreate(count=SERIALS), admin)
        scans = [u for _s, u in range_uris(key, "", lot, rng.first, rng.count)]
    return {
        "coffee": coffee,
        "fruit": story_mod.FRUIT,
        "scan_paths": scans,
        "info": {
            "story_steps": len(story.steps),
            "camera_grade": story.inspection.get("grade"),
            "readings": points,
            "days_of_history": DAYS,
            "evidence_stored": done.stored,
            "brand_granted": done.granted,
            "serials_issued": SERIALS,
            "seed_s": round(time.perf_counter() - t0, 1),
        },
    }


# ------------------------------------------------------------------ load


async def _load(args: list[str], url_file: Path | None = None, url: str | None = None) -> dict:
    cmd = [sys.executable, "-m", "bench.load"]
    cmd += [url] if url else ["--url-file", str(url_file)]
    proc = await asyncio.create_subprocess_exec(
        *cmd, *args, "--forwarded-for", str(FORWARDED_POOL), stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bench.load {args} exited {proc.returncode}")
    return orjson.loads(stdout)  # type: ignore[no-any-return]


def _headers(h: dict[str, str]) -> list[str]:
    return [x for k, v in h.items() for x in ("--header", f"{k}: {v}")]


def spawn_server(
    env: dict[str, str], port: int, log: Path, profile: Path | None
) -> subprocess.Popen[bytes]:
    """``dehong cloud serve`` in its own process (under cProfile with ``profile``)."""
    pre = ["-m", "cProfile", "-o", str(profile)] if profile else []
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, *pre, "-m", "dehong.cli", "cloud", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def chromium_first_view(url: str) -> dict[str, Any]:
    """Chromium (Debian's, headless, via Playwright) at 360x740: bytes the network
    delivered (encoded, as transferred) until the page has checked its proofs."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        return {"skipped": "playwright is not installed"}
    if exe is None:
        return {"skipped": "chromium is not installed"}
    total = 0
    requests: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=exe, headless=True)
        try:
            ctx = await browser.new_context(
                viewport={"width": 360, "height": 740}, device_scale_factor=2,
                is_mobile=True, has_touch=True, locale="zh-CN",
            )  # fmt: skip
            page = await ctx.new_page()
            cdp = await ctx.new_cdp_session(page)
            await cdp.send("Network.enable")

            def count(params: dict[str, Any]) -> None:
                nonlocal total
                total += int(params.get("encodedDataLength", 0))

            cdp.on("Network.loadingFinished", count)
            page.on("request", lambda r: requests.append(r.url))
            await page.goto(url)
            await page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            state = await page.get_attribute("#verify", "data-state")
            await page.wait_for_timeout(300)
        finally:
            await browser.close()
    return {"bytes": total, "requests": len(requests), "verify": state}


def _profile_top(path: Path, n: int = 25) -> list[dict[str, Any]]:
    import pstats

    st = pstats.Stats(str(path))
    rows = []
    for (file, line, fn), (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        rows.append((tt, ct, nc, f"{Path(file).name}:{line}({fn})"))
    rows.sort(reverse=True)
    return [
        {"fn": name, "own_s": round(tt, 3), "cum_s": round(ct, 3), "calls": nc}
        for tt, ct, nc, name in rows[:n]
    ]


async def measure(
    env: dict[str, str], world: dict[str, Any], tmp: Path, seconds: float,
    open_seconds: float, pids: dict[str, int], profile: bool,
) -> dict[str, Any]:  # fmt: skip
    port = free_port()
    prof = tmp / "server.pstats" if profile else None
    api = spawn_server(env, port, tmp / "api.log", prof)
    base = f"http://127.0.0.1:{port}"
    coffee, fruit = world["coffee"], world["fruit"]
    page = f"{base}/01/{coffee.gtin}/10/{coffee.lot}"
    scans = tmp / "scans.txt"
    scans.write_text("".join(f"{base}{p}\n" for p in world["scan_paths"]))
    gtin13 = coffee.gtin[1:] if coffee.gtin.startswith("0") else coffee.gtin
    noncanonical = f"{base}/gtin/{gtin13}/lot/{coffee.lot}"
    out: dict[str, Any] = {}
    try:
        await _wait_for(lambda: _http_ok(f"{base}/healthz"), 60, "API")
        pids = {"api": api.pid, **pids}
        closed: list[tuple[str, str | None, list[str]]] = [
            ("trivial_healthz", f"{base}/healthz", []),
            ("trivial_wellknown", f"{base}/.well-known/gs1resolver", []),
            ("page_lot", page, _headers(HTML)),
            ("page_scan", None, _headers(HTML)),
            ("page_fruit", f"{base}/01/{fruit.gtin}/10/{fruit.lot}", _headers(HTML)),
            ("redirect_301", noncanonical, [*_headers(HTML), "--expect", "301"]),
        ]
        for name, url, extra in closed:
            src: dict[str, Any] = {"url": url} if url else {"url_file": scans}
            args = ["--concurrency", str(CONCURRENCY), *extra]
            if name != "page_scan":  # a scan is recorded once per serial: no warm-up
                await _load([*args, "--duration", str(WARM_UP_S)], **src)
            cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
            r = await _load([*args, "--duration", str(seconds)], **src)
            n = max(r["requests"], 1)
            for k, p in pids.items():
                r[f"{k}_cpu_ms_per_request"] = round((cpu_seconds(p) - cpu0[k]) * 1000 / n, 2)
            out[name] = r
        # the goal's load; then, for the page, half the rate it sustained in the closed
        # loop (when that is under 50/s): its latency when not overloaded
        half = math.floor(out["page_lot"]["rps"] / 2)
        for name, url, rate, extra in (
            ("open_trivial_healthz", f"{base}/healthz", OPEN_RATE, []),
            ("open_page_lot", page, OPEN_RATE, _headers(HTML)),
            *(
                [("open_page_lot_at_half_capacity", page, float(half), _headers(HTML))]
                if 1 <= half < OPEN_RATE
                else []
            ),
        ):
            await asyncio.sleep(2)  # the queue of the last load drained
            out[name] = await _load(
                ["--rate", str(rate), "--duration", str(open_seconds), *extra], url=url
            )
        from bench.firstview import first_view

        fv = await first_view(page, headers={"X-Forwarded-For": "10.255.0.1"})
        out["first_view"] = fv.summary()
        try:
            out["first_view_chromium"] = await chromium_first_view(page)
        except Exception as exc:  # noqa: BLE001 - the cross-check is optional, its failure reported
            out["first_view_chromium"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        api.send_signal(signal.SIGINT if prof else signal.SIGTERM)
        try:
            api.wait(60)
        except subprocess.TimeoutExpired:
            api.kill()
            api.wait(10)
    if prof is not None and prof.exists():
        out["profile_top_own_time"] = _profile_top(prof)
        out["profile_file"] = str(prof)
    return out


# ------------------------------------------------------------------ where the time goes

#: The page's sections (functions of cloud/resolver/page/service.py and views.py)
SECTIONS = {
    "cloud.resolver.page.views": ["generation", "find_lot", "page_data", "render"],
    "cloud.resolver.page.codes": ["check", "record"],
    "cloud.resolver.page.service": [
        "get_product_by_gtin", "_brand", "_origin", "_commitment", "_certificates", "_events",
        "bundle", "_timeline", "custody_of", "_custody", "_series", "inspections_of",
    ],
}  # fmt: skip


async def spans(settings: Any, path: str, n: int, *, cache: bool = True) -> dict[str, Any]:
    """Timing spans of the page, in this process (the app over ASGI, no network, one
    request at a time, after ``dehong cloud serve`` has stopped): wall ms and SQL
    statements per view of each section of the page, ``n`` views after 3 left out.
    ``cache=False``: the page's cache off, every view built (where a build's time goes)."""
    import functools
    import importlib

    import httpx
    from sqlalchemy import event

    from cloud.app import create_app
    from cloud.db import Database
    from cloud.timeseries import store_for

    stats: dict[str, list[float]] = {}
    sql = [0]
    saved: list[tuple[Any, str, Any]] = []

    def wrap(mod: Any, name: str) -> None:
        f = getattr(mod, name)

        def add(t0: float, q0: int) -> None:
            s = stats.setdefault(name, [0.0, 0.0])
            s[0] += time.perf_counter() - t0
            s[1] += sql[0] - q0

        @functools.wraps(f)
        async def timed(*a: Any, **k: Any) -> Any:
            t0, q0 = time.perf_counter(), sql[0]
            try:
                return await f(*a, **k)
            finally:
                add(t0, q0)

        @functools.wraps(f)
        def timed_sync(*a: Any, **k: Any) -> Any:
            t0, q0 = time.perf_counter(), sql[0]
            try:
                return f(*a, **k)
            finally:
                add(t0, q0)

        saved.append((mod, name, f))
        setattr(mod, name, timed if asyncio.iscoroutinefunction(f) else timed_sync)

    for module, names in SECTIONS.items():
        mod = importlib.import_module(module)
        for name in names:
            wrap(mod, name)
    db = Database(settings.database_url)
    tsdb = store_for(settings)
    await tsdb.open()

    def count(*_a: Any, **_k: Any) -> None:
        sql[0] += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        app = create_app(
            settings if cache else settings.model_copy(update={"trace_page_cache_lots": 0}),
            db=db,
            tsdb=tsdb,
        )
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            for i in range(3 + n):
                if i == 3:
                    stats.clear()
                    sql[0] = 0
                    t0 = time.perf_counter()
                h = {**HTML, "X-Forwarded-For": f"10.254.0.{i % 250}"}
                r = await c.get(path, headers=h)
                assert r.status_code == 200, r.status_code
            wall = time.perf_counter() - t0
            total_sql = sql[0]
    finally:
        for mod, name, f in saved:
            setattr(mod, name, f)
        await tsdb.close()
        await db.dispose()
    return {
        "views": n,
        "ms_per_view": round(wall / n * 1000, 1),
        "sql_per_view": round(total_sql / n, 1),
        "sections": {
            name: {"ms": round(s[0] / n * 1000, 1), "sql": round(s[1] / n, 1)}
            for name, s in sorted(stats.items(), key=lambda kv: -kv[1][0])
        },
    }


# ------------------------------------------------------------------ the run


async def run_async(short: bool, store: str, profile: bool) -> dict[str, Any]:
    from cloud.db import Database
    from cloud.db.migrate import upgrade_async
    from cloud.settings import Settings
    from cloud.timeseries import store_for

    seconds = 8.0 if short else 20.0
    open_seconds = 20.0 if short else 60.0
    tmp = Path(tempfile.mkdtemp(prefix="dehong-bench-trace-page-"))
    influx = PrivateInflux(tmp / "influx") if store == "influxdb" else None
    if influx is not None:
        influx.start()
    pg = _fresh_pg()
    db_url = pg or f"sqlite:///{tmp / 'rel.db'}"
    result: dict[str, Any] = {
        "bench": "trace-page",
        "short": short,
        "machine_cores": os.cpu_count(),
        "load_avg_before": [round(x, 2) for x in os.getloadavg()],
        "relational": "postgresql (fresh database)" if pg else "sqlite",
        "timeseries": "influxdb (private influxd)" if influx else "embedded sqlite store",
        "concurrency": CONCURRENCY,
        "seconds_per_endpoint": seconds,
        "open_loop": {"rate": OPEN_RATE, "seconds": open_seconds},
        "trivial": "/healthz (public: SELECT 1 and a time-series store ping)",
        "server_under_cprofile": profile,
    }
    secret = secrets.token_urlsafe(48)
    ts_env = (
        {"DEHONG_INFLUX_URL": influx.url, "DEHONG_INFLUX_DB": "dehong"}
        if influx
        else {"DEHONG_INFLUX_URL": "", "DEHONG_TSDB_PATH": str(tmp / "ts.db")}
    )
    env = {
        **os.environ,
        "DEHONG_DATABASE_URL": db_url,
        "DEHONG_JWT_SECRET": secret,
        "DEHONG_KEYS_DIR": str(tmp / "keys"),
        "DEHONG_FILESTORE_DIR": str(tmp / "files"),
        "DEHONG_MOSQUITTO_DIR": str(tmp / "mosquitto"),
        **ts_env,
    }
    try:
        await upgrade_async(db_url)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=db_url,
            jwt_secret=secret,
            keys_dir=tmp / "keys",
            filestore_dir=tmp / "files",
            mosquitto_dir=tmp / "mosquitto",
            influx_url=influx.url if influx else "",
            tsdb_path=tmp / "ts.db",
        )
        db = Database(db_url)
        tsdb = store_for(settings)
        await tsdb.open()
        try:
            world = await seed(settings, db, tsdb, tmp / "demo")
        finally:
            await tsdb.close()
            await db.dispose()
        result["world"] = {
            "lot": f"{world['coffee'].gtin}/{world['coffee'].lot} (coffee, green beans)",
            "fruit_lot": f"{world['fruit'].gtin}/{world['fruit'].lot} (mango, in 4 cases)",
            **world["info"],
        }
        pids = {"influxd": influx.proc.pid} if influx and influx.proc else {}
        got = await measure(env, world, tmp, seconds, open_seconds, pids, profile)
        result.update(got)
        coffee = world["coffee"]
        try:
            for key, cached in (("page_spans", False), ("page_spans_cached", True)):
                result[key] = await spans(
                    settings, f"/01/{coffee.gtin}/10/{coffee.lot}", 10 if short else 30,
                    cache=cached,
                )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a diagnosis, reported when it fails
            result["page_spans"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        if influx is not None:
            influx.stop()
        if pg:
            with contextlib.suppress(Exception):
                _drop_pg(pg)
        if not profile:  # the profile is kept (its path is in the JSON)
            shutil.rmtree(tmp, ignore_errors=True)
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    return judge(result)


def judge(r: dict[str, Any]) -> dict[str, Any]:
    """The figures against the issue's goals."""
    triv, page = r["trivial_healthz"], r["page_lot"]
    o_triv, o_page = r["open_trivial_healthz"], r["open_page_lot"]
    r["ratio_page_to_trivial_rps"] = round(page["rps"] / max(triv["rps"], 0.1), 3)
    r["ratio_scan_to_trivial_rps"] = round(r["page_scan"]["rps"] / max(triv["rps"], 0.1), 3)
    r["open_p99_ratio_page_to_trivial"] = round(
        (o_page["p99_ms"] or 1e9) / max(o_triv["p99_ms"] or 0.1, 0.1), 2
    )
    r["page_overloaded_at_open_rate"] = page["rps"] < OPEN_RATE
    r["first_view_bytes"] = r["first_view"]["bytes_all"]
    r["redirects_per_s"] = r["redirect_301"]["rps"]
    errors = sum(
        r[k]["errors"]
        for k in (
            "trivial_healthz", "page_lot", "page_scan", "page_fruit", "redirect_301",
            "open_trivial_healthz", "open_page_lot",
        )
    )  # fmt: skip
    r["goals"] = {
        "rps_ratio_ge_0.5": r["ratio_page_to_trivial_rps"] >= RPS_RATIO_GOAL,
        "open_p99_le_3x_trivial": r["open_p99_ratio_page_to_trivial"] <= P99_RATIO_GOAL,
        "open_p99_lt_100ms": (o_page["p99_ms"] or 1e9) < P99_GOAL_MS,
        "first_view_lt_300KB": r["first_view_bytes"] < FIRST_VIEW_GOAL
        and not r["first_view"]["external"],
        "no_errors": errors == 0,
    }
    r["goal_met"] = all(r["goals"].values())
    return r


def run(short: bool = False, store: str = "influxdb", profile: bool = False) -> dict[str, Any]:
    return asyncio.run(run_async(short, store, profile))
