"""``/api/v1/logistics``: phone trackers, the OsmAnd endpoint, positions and tracks.

Permissions (docs/roles.md): ``trackers:write`` (county dispatcher, admins) creates,
rotates, changes and revokes trackers; ``positions:read`` reads positions, tracks
and trackers (never their device ids, shown once). County-scoped: a vehicle or
tracker of another county is 404. The OsmAnd endpoint is public: its device id is
its credential.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.db import MAX_INT32
from cloud.deps import DatabaseDep, SessionDep, TsdbDep
from cloud.errors import ApiError, Error, responses
from cloud.logistics.positions import trackers as svc
from cloud.logistics.positions.config import PositionSettings
from cloud.logistics.positions.intake import PositionIntake
from cloud.logistics.positions.metrics import PositionCollector, PositionMetrics
from cloud.logistics.positions.osmand import handle
from cloud.logistics.positions.read import positions_of
from cloud.logistics.positions.schemas import (
    PositionList,
    PositionOut,
    TrackerCreate,
    TrackerIssued,
    TrackerList,
    TrackerOut,
    TrackerUpdate,
    TrackList,
    TrackOut,
)
from cloud.logistics.positions.storage import Tracker, TrackerCount
from cloud.logistics.positions.tracks import day_of, tracks_of
from protocol.ids import DeviceId

router = APIRouter(prefix="/logistics", tags=["logistics"])

PositionsRead = Annotated[Principal, require("positions:read")]
TrackersWrite = Annotated[Principal, require("trackers:write")]
TrackerId = Annotated[int, Path(ge=1, le=MAX_INT32)]
#: Longest window one positions read covers.
MAX_WINDOW = timedelta(hours=48)
#: Longest span of days one tracks read covers.
MAX_TRACK_DAYS = 92


def install(app: FastAPI) -> None:
    """The app's intake (its store and database) and its counters on ``/metrics``."""
    settings = PositionSettings()
    metrics = PositionMetrics()
    app.state.position_settings = settings
    app.state.position_intake = PositionIntake(
        app.state.db, app.state.tsdb, settings, metrics=metrics
    )
    registry = getattr(app.state, "metrics_registry", None)
    if registry is not None:
        registry.register(PositionCollector(metrics))


def _intake(request: Request) -> PositionIntake:
    return request.app.state.position_intake  # type: ignore[no-any-return]


async def _counts(
    session: AsyncSession, ids: list[int], request: Request
) -> dict[int, dict[str, int]]:
    """Stored counts plus this process's not flushed yet (other processes' reach the
    database within their ``counts_flush_s``)."""
    out: dict[int, dict[str, int]] = {i: {} for i in ids}
    if ids:
        rows = await session.execute(
            select(TrackerCount.tracker_id, TrackerCount.outcome, TrackerCount.count).where(
                TrackerCount.tracker_id.in_(ids)
            )
        )
        for tid, outcome, n in rows:
            out[tid][outcome] = int(n)
    pending = _intake(request).counts
    for i in ids:
        for outcome, n in pending.pending(i).items():
            out[i][outcome] = out[i].get(outcome, 0) + n
    return out


def _out(tracker: Tracker, counts: dict[str, int] | None = None) -> TrackerOut:
    out = TrackerOut.model_validate(tracker)
    out.counts = counts or {}
    return out


def _issued(issued: svc.Issued, server_url: str) -> TrackerIssued:
    base = TrackerOut.model_validate(issued.tracker).model_dump()
    return TrackerIssued(
        **base,
        device_id=issued.device_id,
        server_url=server_url,
        config_uri=issued.config_uri,
        qr_svg=issued.qr_svg,
    )


async def _tracker(session: AsyncSession, principal: Principal, tracker_id: int) -> Tracker:
    row = await session.get(Tracker, tracker_id)
    if row is None or not principal.can_see(row.county):
        raise ApiError(404, f"tracker {tracker_id} not found", field="path.tracker_id")
    return row


def _error(exc: svc.TrackerError) -> ApiError:
    return ApiError(exc.status, str(exc), field=exc.field)


@router.post(
    "/trackers",
    response_model=TrackerIssued,
    status_code=201,
    summary="Create a phone tracker for a vehicle; its device id and QR code are shown once",
    responses=responses(401, 403, 404, 422),
)
async def create_tracker(
    body: TrackerCreate, principal: TrackersWrite, db: DatabaseDep, request: Request
) -> TrackerIssued:
    server_url = request.app.state.position_settings.public_url
    async with db.transaction() as s:
        reg = await svc.vehicle_of(s, body.vehicle)
        if reg is None or not principal.can_see(reg.county):
            raise ApiError(
                404,
                f"vehicle {body.vehicle!r} not found: register it first as a mobile device "
                "of kind vehicle (PUT /api/v1/mobile-devices/{id})",
                field="body.vehicle",
            )
        principal.require_write(reg.county)
        try:
            issued = await svc.create(
                s,
                reg,
                label=body.label,
                speed_unit=body.speed_unit,
                server_url=server_url,
                actor=principal.actor,
            )
        except svc.TrackerError as exc:
            raise _error(exc) from None
        return _issued(issued, server_url)


@router.get(
    "/trackers",
    response_model=TrackerList,
    summary="The trackers of the counties you can see (of one vehicle with ?vehicle=)",
    responses=responses(401, 403, 422),
)
async def list_trackers(
    principal: PositionsRead,
    session: SessionDep,
    request: Request,
    vehicle: Annotated[str | None, Query(max_length=128)] = None,
    revoked: Annotated[bool | None, Query()] = None,
) -> TrackerList:
    q = select(Tracker)
    counties = principal.counties()
    if counties is not None:
        q = q.where(Tracker.county.in_(counties))
    if vehicle is not None:
        q = q.where(Tracker.vehicle == vehicle)
    if revoked is not None:
        q = q.where(Tracker.revoked_at.is_not(None) if revoked else Tracker.revoked_at.is_(None))
    rows = list(await session.scalars(q.order_by(Tracker.id).limit(1000)))
    counts = await _counts(session, [r.id for r in rows], request)
    return TrackerList(items=[_out(r, counts[r.id]) for r in rows])


@router.get(
    "/trackers/{tracker_id}",
    response_model=TrackerOut,
    summary="One tracker with its counts: accepted, and filtered by reason",
    responses=responses(401, 403, 404),
)
async def get_tracker(
    tracker_id: TrackerId, principal: PositionsRead, session: SessionDep, request: Request
) -> TrackerOut:
    row = await _tracker(session, principal, tracker_id)
    return _out(row, (await _counts(session, [row.id], request))[row.id])


@router.patch(
    "/trackers/{tracker_id}",
    response_model=TrackerOut,
    summary="Change a tracker's speed unit (of the query form)",
    responses=responses(401, 403, 404, 422),
)
async def update_tracker(
    tracker_id: TrackerId,
    body: TrackerUpdate,
    principal: TrackersWrite,
    db: DatabaseDep,
    request: Request,
) -> TrackerOut:
    async with db.transaction() as s:
        row = await _tracker(s, principal, tracker_id)
        principal.require_write(row.county)
        await svc.set_speed_unit(s, row, body.speed_unit, actor=principal.actor)
        return _out(row, (await _counts(s, [row.id], request))[row.id])


@router.post(
    "/trackers/{tracker_id}/rotate",
    response_model=TrackerIssued,
    summary="A new device id (and QR code) for a tracker, shown once; the old one stops at once",
    responses=responses(401, 403, 404, 409),
)
async def rotate_tracker(
    tracker_id: TrackerId, principal: TrackersWrite, db: DatabaseDep, request: Request
) -> TrackerIssued:
    server_url = request.app.state.position_settings.public_url
    async with db.transaction() as s:
        row = await _tracker(s, principal, tracker_id)
        principal.require_write(row.county)
        try:
            issued = await svc.rotate(s, row, server_url=server_url, actor=principal.actor)
        except svc.TrackerError as exc:
            raise _error(exc) from None
        return _issued(issued, server_url)


@router.delete(
    "/trackers/{tracker_id}",
    response_model=TrackerOut,
    summary="Revoke a tracker: its device id is refused from now on (its positions stay)",
    responses=responses(401, 403, 404),
)
async def revoke_tracker(
    tracker_id: TrackerId, principal: TrackersWrite, db: DatabaseDep
) -> TrackerOut:
    async with db.transaction() as s:
        row = await _tracker(s, principal, tracker_id)
        principal.require_write(row.county)
        await svc.revoke(s, row, actor=principal.actor)
        return _out(row)


_OSMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "taken (empty body; a batch answers a JSON summary)"},
    400: {"model": Error, "description": "bad input ('field' names it) or unknown device"},
    413: {"model": Error, "description": "too many fixes or bytes in one request"},
    503: {"model": Error, "description": "the store is down: nothing stored, send again"},
}


@router.get(
    "/osmand",
    dependencies=[require("public")],
    summary="OsmAnd protocol (as Traccar), query form: ?id=&lat=&lon=&timestamp=...",
    response_class=Response,
    responses=_OSMAND_RESPONSES,
)
async def osmand_query(request: Request) -> Response:
    return await handle(request, _intake(request), json_errors=True)


@router.post(
    "/osmand",
    dependencies=[require("public")],
    summary="OsmAnd protocol (as Traccar): form-encoded query, Traccar Client JSON, or a "
    "batch of fixes (JSON)",
    response_class=Response,
    responses=_OSMAND_RESPONSES,
)
async def osmand_post(request: Request) -> Response:
    return await handle(request, _intake(request), json_errors=True)


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise ApiError(422, f"{field}: give a zone (Z or +08:00)", field=field)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before year 1 in UTC
        raise ApiError(422, f"{field}: out of the range of dates", field=field) from None


def _window(
    start: datetime | None, end: datetime | None, default: timedelta, longest: timedelta
) -> tuple[datetime, datetime]:
    """[start, end) in UTC: ``end`` defaults to now, ``start`` to ``default`` before it."""
    end_utc = _aware(end, "query.end") if end is not None else datetime.now(UTC)
    start_utc = _aware(start, "query.start") if start is not None else None
    if start_utc is None:
        try:
            start_utc = end_utc - default
        except OverflowError:
            raise ApiError(422, "query.end: out of the range of dates", field="query.end") from None
    if end_utc <= start_utc:
        raise ApiError(422, "query.end: must be after start", field="query.end")
    if end_utc - start_utc > longest:
        raise ApiError(422, f"query.end: at most {longest} after start", field="query.end")
    return start_utc, end_utc


async def _vehicle(session: AsyncSession, principal: Principal, vehicle: str) -> str:
    reg = await svc.vehicle_of(session, vehicle)
    if reg is None or not principal.can_see(reg.county):
        raise ApiError(404, f"vehicle {vehicle!r} not found", field="path.vehicle")
    return reg.county


@router.get(
    "/vehicles/{vehicle}/positions",
    response_model=PositionList,
    summary="A vehicle's stored fixes in [start, end), in fix-time order (at most 48 h)",
    responses=responses(401, 403, 404, 422),
)
async def vehicle_positions(
    vehicle: Annotated[DeviceId, Path()],
    principal: PositionsRead,
    session: SessionDep,
    tsdb: TsdbDep,
    start: Annotated[
        datetime | None, Query(description="ISO-8601 with a zone; default: end - 24 h")
    ] = None,
    end: Annotated[datetime | None, Query(description="ISO-8601 with a zone; default: now")] = None,
) -> PositionList:
    start, end = _window(start, end, timedelta(hours=24), MAX_WINDOW)
    await _vehicle(session, principal, vehicle)
    fixes = await positions_of(
        tsdb,
        vehicle,
        int(start.timestamp() * 1000),
        int(end.timestamp() * 1000),
        counties=principal.counties(),
    )
    return PositionList(
        vehicle=vehicle,
        start=start.isoformat().replace("+00:00", "Z"),
        end=end.isoformat().replace("+00:00", "Z"),
        items=[
            PositionOut(
                time=f.time,
                lat=f.lat,
                lon=f.lon,
                speed_kmh=f.speed_kmh,
                course_deg=f.course_deg,
                alt_m=f.alt_m,
                accuracy_m=f.accuracy_m,
                hdop=f.hdop,
                battery_pct=f.battery_pct,
                charging=f.charging,
                attributes=f.attributes,
            )
            for f in fixes
        ],
    )


@router.get(
    "/vehicles/{vehicle}/tracks",
    response_model=TrackList,
    summary="A vehicle's simplified daily tracks (Beijing days; Douglas-Peucker), kept 2 years",
    responses=responses(401, 403, 404, 422),
)
async def vehicle_tracks(
    vehicle: Annotated[DeviceId, Path()],
    principal: PositionsRead,
    session: SessionDep,
    start: Annotated[
        datetime | None, Query(description="ISO-8601 with a zone; default: end - 7 days")
    ] = None,
    end: Annotated[datetime | None, Query(description="ISO-8601 with a zone; default: now")] = None,
) -> TrackList:
    start, end = _window(start, end, timedelta(days=7), timedelta(days=MAX_TRACK_DAYS))
    await _vehicle(session, principal, vehicle)
    first = day_of(int(start.timestamp() * 1000))
    last = day_of(int(end.timestamp() * 1000) - 1)
    rows = await tracks_of(session, vehicle, first, last, principal.counties())
    return TrackList(
        vehicle=vehicle,
        items=[
            TrackOut(
                day=r.day,
                county=r.county,
                tolerance_m=r.tolerance_m,
                raw_count=r.raw_count,
                distance_m=r.distance_m,
                points=[tuple(p) for p in r.points],
            )
            for r in rows
        ],
    )
