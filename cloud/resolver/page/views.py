"""The trace page as HTML: :func:`trace_page` renders the same data as the JSON view
(:func:`cloud.resolver.page.service.page_data`) with the shell's templates (cloud/web).

The resolver (helper ``resolver``) calls ``trace_page(request, dl, db)`` for the default
link of ``/01/{gtin}/10/{lot}[/21/{serial}]``; ``dl`` is its ``DigitalLink`` (``gtin``,
``lot``, ``serial``, ``attributes`` with the code ``c``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from cloud.db import Database, utcnow
from cloud.resolver.page import codes
from cloud.resolver.page.admission import Overloaded, admission_of
from cloud.resolver.page.cache import Entry, cache_of, generation, minute_of
from cloud.resolver.page.service import find_lot, page_data
from cloud.web.etag import etag, fresh
from cloud.web.shell import environment, page_context

HERE = Path(__file__).resolve().parent
STATIC_URL = "/static/trace-page"
BEIJING = timezone(timedelta(hours=8))

#: Our scripts, styles and API only; images ours (thumbnails) or inline SVG.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
}


class LinkLike(Protocol):
    gtin: str
    lot: str | None
    serial: str | None
    attributes: dict[str, str]


@dataclass(frozen=True)
class Link:
    """What the page needs of a Digital Link (the resolver's ``DigitalLink`` has these)."""

    gtin: str
    lot: str | None
    serial: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------ charts

CHART_W, CHART_H, PAD_L, PAD_B = 320, 120, 30, 16


def chart(ev: dict[str, Any]) -> dict[str, Any]:
    """The evidence chart's geometry: the profile's band, the series as line segments
    (a missing window ends a segment: gaps are drawn as gaps), points outside the band."""
    t0, t1 = ev["start_ms"], max(ev["end_ms"], ev["start_ms"] + 1)
    values = [p[1] for s in ev["series"] for p in s["points"] if p[1] is not None]
    lo_candidates = [v for v in (ev.get("low"), ev.get("min"), *values) if v is not None]
    hi_candidates = [v for v in (ev.get("high"), ev.get("max"), *values) if v is not None]
    lo = min(lo_candidates, default=0.0) - 1
    hi = max(hi_candidates, default=10.0) + 1
    w, h = CHART_W - PAD_L - 4, CHART_H - PAD_B - 6

    def x(t: float) -> float:
        # a window's start may lie before the interval (windows are aligned): clamp
        t = min(max(t, t0), t1)
        return round(PAD_L + (t - t0) / (t1 - t0) * w, 1)

    def y(v: float) -> float:
        return round(6 + (hi - v) / (hi - lo) * h, 1)

    segments: list[str] = []
    outside: list[tuple[float, float]] = []
    gaps: list[tuple[float, float]] = []
    for s in ev["series"]:
        every = s["every_ms"]
        current: list[str] = []
        last_t = t0 - every  # a gap at the start counts too
        for t, v in s["points"]:
            if v is None:
                continue
            if t - last_t > 1.5 * every:
                if len(current) > 1:
                    segments.append(" ".join(current))
                current = []
                if t - last_t > 2 * every:
                    gaps.append((x(last_t + every), x(t)))
            current.append(f"{x(t)},{y(v)}")
            if (ev.get("low") is not None and v < ev["low"]) or (
                ev.get("high") is not None and v > ev["high"]
            ):
                outside.append((x(t), y(v)))
            last_t = t
        if len(current) > 1:
            segments.append(" ".join(current))
        elif current:
            segments.append(current[0] + " " + current[0])
        if s["points"] and t1 - last_t > 2 * every:
            gaps.append((x(last_t + every), x(t1)))
    band = None
    if ev.get("low") is not None and ev.get("high") is not None:
        band = {"y": y(ev["high"]), "h": round(y(ev["low"]) - y(ev["high"]), 1)}
    ticks = [
        {"y": y(v), "label": f"{v:g}"}
        for v in sorted({ev.get("low"), ev.get("high")} - {None})  # type: ignore[type-var]
    ]
    return {
        "w": CHART_W,
        "h": CHART_H,
        "left": PAD_L,
        "right": CHART_W - 4,
        "bottom": CHART_H - PAD_B,
        "band": band,
        "segments": segments,
        "outside": outside[:200],
        "gaps": [(a, round(b - a, 1)) for a, b in gaps if b - a >= 1],
        "ticks": ticks,
        "start": local(ev["start_ms"]),
        "end": local(ev["end_ms"]),
        "empty": not segments,
    }


def local(ms_or_iso: int | str | None) -> str:
    """Beijing time, as a shopper in China reads it."""
    if ms_or_iso is None:
        return ""
    if isinstance(ms_or_iso, int):
        t = datetime.fromtimestamp(ms_or_iso / 1000, BEIJING)
    else:
        t = datetime.fromisoformat(ms_or_iso.replace("Z", "+00:00")).astimezone(BEIJING)
    return t.strftime("%Y-%m-%d %H:%M")


def minutes(seconds: float | None) -> str:
    return "0" if not seconds else f"{seconds / 60:.0f}"


def bundle_json(data: dict[str, Any]) -> str | None:
    """The bundle for the page's verifier, safe inside <script type=application/json>."""
    if data.get("verification") is None:
        return None
    text = json.dumps(data["verification"], ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# ------------------------------------------------------------------ rendering


@cache
def _environment() -> Environment:
    """One Jinja2 environment per process: templates are compiled once, not per view."""
    env = environment(HERE / "templates")
    env.globals["local"] = local
    env.globals["minutes"] = minutes
    return env


def render(data: dict[str, Any], settings: Any, *, code: Any = None, scan: Any = None) -> str:
    env = _environment()
    charts = [chart(i["evidence"]) if i.get("evidence") else None for i in data["custody"]]
    return env.get_template("trace.html").render(
        page_context(
            settings,
            d=data,
            charts=charts,
            code=code,
            scan=scan,
            bundle=bundle_json(data),
            static=STATIC_URL,
            operator_src=f"/api/v1/trace/lots/{data['gtin']}/{data['lot']}/operator-view",
        )
    )


def not_found(settings: Any, gtin: str, lot: str | None) -> HTMLResponse:
    html = (
        _environment()
        .get_template("not_found.html")
        .render(page_context(settings, gtin=gtin, lot=lot))
    )
    return HTMLResponse(html, status_code=404, headers=HEADERS)


#: the page without a code (cacheable, revalidated with its ETag: the browser or a
#: proxy may keep it but asks every time; the answer is 304 while it is unchanged)
CACHED_HEADERS = {**HEADERS, "Cache-Control": "no-cache"}


def json_bytes(content: Any) -> bytes:
    """As FastAPI's JSONResponse renders."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def overloaded(exc: Overloaded) -> Response:
    return Response(
        json_bytes(
            {
                "detail": "trace page overloaded, retry later / 访问人数过多，请稍后再试",
                "zh": "访问人数过多，请稍后再试",
                "en": "too many requests at once, retry later",
            }
        ),
        status_code=503,
        media_type="application/json",
        headers={"Retry-After": str(exc.retry_after_s), "Cache-Control": "no-store"},
    )


async def lot_entry(request: Request, db: Database, gtin: str, lot: str) -> Entry | None:
    """The lot's cached page, built if the cache has none valid now (None: no such lot).
    Raises :class:`Overloaded` when too many builds are running and waiting."""
    state, settings = request.app.state, request.app.state.settings
    pages = cache_of(state, settings.trace_page_cache_lots)
    key = (gtin, lot)
    # the generation is read before any data: a write committed later bumps it
    gen = await generation(db)
    now = utcnow()
    entry = pages.get(key, gen, minute_of(now))
    if entry is not None:
        return entry
    async with admission_of(state, settings).slot(), pages.lock(key):
        gen = await generation(db)
        now = utcnow()
        entry = pages.get(key, gen, minute_of(now))
        if entry is not None:  # built while this view waited
            return entry
        tsdb = getattr(state, "tsdb", None)
        async with db.transaction() as s:
            found = await find_lot(s, gtin, lot)
            if found is None:
                return None
            data = await page_data(s, tsdb, settings, found, now=now)
        html = render(data, settings).encode("utf-8")
        body = json_bytes({**data, "code": None})
        entry = Entry(gen, minute_of(now), data, html, etag(html), body, etag(body))
        pages.put(key, entry)
        return entry


def cached(request: Request, dl: LinkLike) -> bool:
    """Whether this minute's page of the lot is in the cache (still to be validated):
    the resolver then leaves the lot's lookup to :func:`trace_page`."""
    if dl.lot is None:
        return False
    settings = request.app.state.settings
    pages = cache_of(request.app.state, settings.trace_page_cache_lots)
    return pages.candidate((dl.gtin, dl.lot), minute_of(utcnow()))


async def trace_page(request: Request, dl: LinkLike, db: Database) -> Response:
    """The lot's trace page (HTML), from the cache (:mod:`.cache`) while valid. Checks
    the serial's code (``?c=``) and records the scan of a valid one (helper
    ``serials``) on every view; 404 page for a lot we do not hold; 503 with
    ``Retry-After`` when too many views are being built."""
    settings = request.app.state.settings
    if dl.lot is None:
        return not_found(settings, dl.gtin, None)
    try:
        entry = await lot_entry(request, db, dl.gtin, dl.lot)
        if entry is None:
            return not_found(settings, dl.gtin, dl.lot)
        c = dl.attributes.get("c")
        if dl.serial is None and c is None:
            return fresh(request, entry.html_etag, CACHED_HEADERS) or Response(
                entry.html,
                media_type="text/html; charset=utf-8",
                headers={**CACHED_HEADERS, "ETag": entry.html_etag},
            )
        async with admission_of(request.app.state, settings).slot(), db.transaction() as s:
            code = await codes.check(s, dl.gtin, dl.lot, dl.serial, c)
            scan = None
            if dl.serial is not None and code is not None and code["status"] == "valid":
                scan = await codes.record(
                    s, dl.gtin, dl.lot, dl.serial,
                    user_agent=request.headers.get("user-agent"), at=utcnow(),
                )  # fmt: skip
    except Overloaded as exc:
        return overloaded(exc)
    return HTMLResponse(render(entry.data, settings, code=code, scan=scan), headers=HEADERS)
