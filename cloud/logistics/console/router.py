"""The dispatcher console's routes.

- ``GET /console`` (public shell, no data: the page logs in with the API's token and
  reads everything below with it, as ``/m/trace`` does).
- ``GET /api/v1/logistics/console/snapshot`` (``console:read``): the page's data.
- ``GET /api/v1/logistics/console/stream`` (``console:read``): the live feed,
  Server-Sent Events; ``?max_s=`` ends it (the page reconnects).
- ``GET /api/v1/logistics/console/{alarms,waybills,capacity,trips}`` (``console:read``)
  and ``POST .../alarms/{id}/ack`` (``console:write``): the boards through providers.
- ``GET /api/v1/logistics/console/trips/{id}/replay`` (``console:read``).
- ``GET /tiles/stub/{z}/{x}/{y}.png`` (public): the local tile stub.
- ``/static/console/``: the page's script, style and vendored Leaflet.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.deps import SessionDep, SettingsDep
from cloud.errors import ApiError, Error, responses
from cloud.logistics.console import providers, service
from cloud.logistics.console.hub import Event, hub_of
from cloud.logistics.console.providers import Call
from cloud.logistics.console.replay import check_replay
from cloud.logistics.console.tiles import tile_source
from cloud.logistics.console.tilestub import tile_png
from cloud.web.shell import environment, page_context

HERE = FsPath(__file__).resolve().parent
STATIC_URL = "/static/console"
PAGE = "/console"
PREFIX = "/logistics/console"

router = APIRouter(prefix=PREFIX, tags=["dispatcher console"])
pages = APIRouter(include_in_schema=False)
ConsoleRead = Annotated[Principal, require("console:read")]
ConsoleWrite = Annotated[Principal, require("console:write")]

WAYBILL_STATES = (
    "created", "assigned", "loaded", "departed", "arrived", "delivered",
    "rejected", "damaged", "returned",
)  # fmt: skip
ALARM_STATES = ("open", "raised", "acknowledged", "cleared", "all")


def _call(principal: Principal, request: Request) -> Call:
    state = request.app.state
    return Call(
        principal.actor,
        principal.role.value,
        principal.counties(),
        state.db,
        state.tsdb,
        state.settings,
    )


def _not_connected(name: str) -> dict[str, Any]:
    return {"connected": False, "items": [], "detail": f"未接入 {name} provider not connected"}


@router.get(
    "/snapshot",
    summary="The console's data: vehicles with their last fix and status, places, "
    "geofences, open alarms and active waybills (county-scoped)",
    responses=responses(401, 403),
)
async def snapshot(principal: ConsoleRead, request: Request) -> dict[str, Any]:
    return await service.snapshot(_call(principal, request))


def _sse(event: str, data: Any, ident: int | None = None) -> bytes:
    head = f"id: {ident}\n" if ident is not None else ""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}event: {event}\ndata: {body}\n\n".encode()


@router.get(
    "/stream",
    response_class=StreamingResponse,
    summary="The live feed (Server-Sent Events): a first 'snapshot' of the vehicles, then "
    "'vehicle' and 'alarm' events of the caller's counties, heartbeat comments; "
    "a client too slow to read is dropped ('dropped' event with the reason)",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The event stream"},
        **responses(401, 403, 422),
    },
)
async def stream(
    principal: ConsoleRead,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    max_s: Annotated[
        float, Query(ge=0, le=3600, description="End the stream after this long (s)")
    ] = 300.0,
) -> StreamingResponse:
    # the login's session is not held for the life of the stream (a pooled connection
    # per listening dispatcher): closed here, before streaming
    await session.close()
    call = _call(principal, request)
    hub = hub_of(request.app)
    sub = hub.subscribe(call.counties)  # first: nothing published after it is missed
    try:
        first = await service.vehicles(call)
    except BaseException:
        hub.unsubscribe(sub)
        raise

    async def events() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        end = loop.time() + max_s
        try:
            yield b"retry: 3000\n\n"
            yield _sse("snapshot", {"vehicles": first, "generated_at_ms": service.now_ms()})
            while True:
                if sub.dropped:
                    yield _sse("dropped", {"reason": sub.dropped})
                    return
                left = end - loop.time()
                if left <= 0:
                    yield _sse("end", {"reason": f"max_s {max_s:g} reached; reconnect"})
                    return
                try:
                    ev: Event = await asyncio.wait_for(
                        sub.queue.get(), min(left, settings.console_heartbeat_s)
                    )
                except TimeoutError:
                    yield b": heartbeat\n\n"
                    continue
                if not sub.sees(ev.county):  # never: publish filters; kept as a guard
                    continue
                sub.delivered += 1
                yield _sse(ev.kind, ev.data, ev.id)
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/alarms",
    summary="Alarms of the caller's counties, through the alarms provider (未接入 without)",
    responses=responses(401, 403, 422),
)
async def alarms(
    principal: ConsoleRead,
    request: Request,
    state: Annotated[str, Query(description="open (raised or acknowledged), raised, "
                                "acknowledged, cleared, all")] = "open",
) -> dict[str, Any]:  # fmt: skip
    if state not in ALARM_STATES:
        raise ApiError(
            422, f"query.state: {state!r}; one of {', '.join(ALARM_STATES)}", field="query.state"
        )
    if providers.provider("alarms") is None:
        return _not_connected("alarms")
    return await service.from_provider(_call(principal, request), "alarms", state)


class AckBody(BaseModel):
    comment: str = Field(default="", max_length=500, description="The dispatcher's comment")


@router.post(
    "/alarms/{alarm_id}/ack",
    summary="Acknowledge an alarm with a comment, through the alarm_ack provider",
    responses=responses(401, 403, 404, 409, 422, 503),
)
async def ack_alarm(
    alarm_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")],
    body: AckBody,
    principal: ConsoleWrite,
    request: Request,
) -> dict[str, Any]:
    call = _call(principal, request)
    listing, ack = providers.provider("alarms"), providers.provider("alarm_ack")
    if listing is None or ack is None:
        raise ApiError(503, "未接入: the alarms provider is not connected")
    # the alarm must be one the caller sees: another county's is 404, as if absent
    rows = providers.scoped(call, await listing(call, "all"), "alarms")
    if not any(str(r.get("id")) == alarm_id for r in rows):
        raise ApiError(404, f"alarm {alarm_id!r} not found")
    try:
        after = await ack(call, alarm_id, body.comment)
    except LookupError:
        raise ApiError(404, f"alarm {alarm_id!r} not found") from None
    except ValueError as exc:
        raise ApiError(409, f"alarm {alarm_id!r}: {exc}") from None
    if isinstance(after, dict) and call.can_see(after.get("county")):
        hub_of(request.app).publish("alarm", after["county"], after)
        return after
    raise ApiError(404, f"alarm {alarm_id!r} not found")


@router.get(
    "/waybills",
    summary="The waybill board, through the waybills provider (未接入 without)",
    responses=responses(401, 403, 422),
)
async def waybills(
    principal: ConsoleRead,
    request: Request,
    state: Annotated[str | None, Query(description="one waybill state")] = None,
    q: Annotated[str | None, Query(max_length=64, description="number, plate or place")] = None,
    vehicle: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, Any]:
    if state is not None and state not in WAYBILL_STATES:
        raise ApiError(
            422, f"query.state: {state!r}; one of {', '.join(WAYBILL_STATES)}", field="query.state"
        )
    if providers.provider("waybills") is None:
        return _not_connected("waybills")
    filters = {k: v for k, v in (("state", state), ("q", q), ("vehicle", vehicle)) if v}
    return await service.from_provider(_call(principal, request), "waybills", filters)


@router.get(
    "/capacity",
    summary="The capacity board: vehicles free by day and temperature class, through the "
    "capacity provider (未接入 without)",
    responses=responses(401, 403, 422),
)
async def capacity(
    principal: ConsoleRead,
    request: Request,
    day: Annotated[date | None, Query(description="the day (Beijing time); default today")] = None,
) -> dict[str, Any]:
    if providers.provider("capacity") is None:
        return _not_connected("capacity")
    when = day or service.beijing_today()
    out = await service.from_provider(_call(principal, request), "capacity", when)
    out["day"] = when.isoformat()
    return out


@router.get(
    "/trips",
    summary="Recent trips to replay, through the trips provider (未接入 without)",
    responses=responses(401, 403),
)
async def trips(principal: ConsoleRead, request: Request) -> dict[str, Any]:
    if providers.provider("trips") is None:
        return _not_connected("trips")
    return await service.from_provider(_call(principal, request), "trips")


@router.get(
    "/trips/{trip_id}/replay",
    summary="A trip's replay (columns t, lat, lon, temp, speed), through the replay provider",
    responses={
        **responses(401, 403, 404, 422, 503),
        502: {"model": Error, "description": "The replay provider broke the contract"},
    },
)
async def replay(
    trip_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")],
    principal: ConsoleRead,
    request: Request,
) -> dict[str, Any]:
    fn = providers.provider("replay")
    if fn is None:
        raise ApiError(503, "未接入: the replay provider is not connected")
    call = _call(principal, request)
    data = await fn(call, trip_id)
    if data is None or not isinstance(data, dict) or not call.can_see(data.get("county")):
        raise ApiError(404, f"trip {trip_id!r} not found")
    try:
        return check_replay(data)
    except ValueError as exc:
        raise ApiError(502, f"the replay provider broke the contract: {exc}") from None


# ------------------------------------------------------------------ page, tiles


def csp(settings: Any) -> str:
    tiles = " ".join(tile_source(settings).origins)
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: {tiles}".rstrip()
        + "; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    )


@pages.get(PAGE, dependencies=[require("public")])
async def console_page(settings: SettingsDep) -> HTMLResponse:
    """The console (public: it holds no data; every read it makes needs a login)."""
    env = environment(HERE / "templates")
    html = env.get_template("console.html").render(
        page_context(settings, static=STATIC_URL, api=f"/api/v1{PREFIX}")
    )
    return HTMLResponse(
        html,
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": csp(settings),
            "Referrer-Policy": "no-referrer",
        },
    )


@pages.get("/tiles/stub/{z}/{x}/{y}.png", dependencies=[require("public")])
async def stub_tile(
    z: Annotated[int, Path(ge=0, le=22)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
) -> Response:
    """A generated tile (public: no data), for tests and the offline demo."""
    try:
        png = tile_png(z, x, y)
    except ValueError as exc:
        raise ApiError(422, f"path.{exc}", field="path") from None
    return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})


def install(app: FastAPI) -> None:
    """The page, the tile stub and the static files (outside ``/api/v1``)."""
    app.include_router(pages)
    app.mount(STATIC_URL, StaticFiles(directory=HERE / "static"), name="console-static")


__all__ = ["install", "router"]
