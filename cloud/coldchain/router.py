"""``/api/v1/coldchain/...``: alarms (list, get, acknowledge), excursions, and MKT of
any device over any interval.

Permissions (docs/roles.md): ``coldchain:read`` reads the caller's county (the
prefecture sees all; another county's alarm or device is 404); ``coldchain:write``
acknowledges (an organisation role only alarms of its own organisation's locations).
Acknowledging is audited (``coldchain.alarm.acknowledged``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import select

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.catalog.storage import CommodityProfile, Location, LocationDevice
from cloud.coldchain import alarms as lifecycle
from cloud.coldchain.mkt import summary
from cloud.coldchain.rules import TEMPERATURE_METRICS
from cloud.coldchain.schemas import AckIn, AlarmOut, AlarmPage, ExcursionOut, MktOut
from cloud.coldchain.service import excursions_query
from cloud.coldchain.storage import ColdchainAlarm, ColdchainExcursion
from cloud.db import MAX_INT32, utcnow
from cloud.deps import SessionDep, TsdbDep
from cloud.devices.storage import Device
from cloud.errors import ApiError, responses
from cloud.pagination import Key, PageDep, fetch_page, link_next
from cloud.timeseries import TimeSeriesError
from cloud.timeseries.kinetics import poll_interval_ms
from protocol.ids import check_metric

router = APIRouter(tags=["cold chain"])

Read = Annotated[Principal, require("coldchain:read")]
Write = Annotated[Principal, require("coldchain:write")]
MAX_SPAN_MS = 400 * 86_400_000
ALARM_KEYS = (Key(ColdchainAlarm.id, desc=True, kind=int),)
EXCURSION_KEYS = (Key(ColdchainExcursion.start_ms, kind=int), Key(ColdchainExcursion.id, kind=int))
DEFAULT_POLL_S = 60.0


def _ms(t: datetime | None, name: str) -> int | None:
    if t is None:
        return None
    if t.tzinfo is None:
        raise ApiError(422, f"query.{name}: give a time zone (Z or +08:00)", field=f"query.{name}")
    try:
        t = t.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ApiError(
            422, f"query.{name}: out of the range of dates", field=f"query.{name}"
        ) from None
    return round(t.timestamp() * 1000)


@router.get(
    "/coldchain/alarms",
    response_model=AlarmPage,
    summary="Cold-chain alarms of your county (the prefecture: all), newest first (Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_alarms(
    principal: Read,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: Annotated[str | None, Query(description="GB/T 2260 code")] = None,
    status: Annotated[str | None, Query(pattern="^(raised|acknowledged|cleared)$")] = None,
    active: bool | None = None,
    device: Annotated[str | None, Query(max_length=128)] = None,
    location_id: Annotated[int | None, Query(ge=1, le=MAX_INT32)] = None,
    rule: Annotated[str | None, Query(max_length=80)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AlarmPage:
    q = lifecycle.alarms_query(
        principal.counties(county), status=status, active=active, device=device,
        location_id=location_id, rule=rule, since_ms=_ms(since, "since"),
        until_ms=_ms(until, "until"),
    ).order_by(None)  # fmt: skip
    found = await fetch_page(session, q, ALARM_KEYS, page)
    link_next(request, response, found.next_cursor)
    return AlarmPage(items=[AlarmOut.of(a) for a in found.rows])


async def _alarm(session: SessionDep, alarm_id: int, principal: Principal) -> ColdchainAlarm:
    alarm = await session.get(ColdchainAlarm, alarm_id)
    if alarm is None or not principal.can_see(alarm.county):
        raise ApiError(404, f"alarm {alarm_id} not found")
    return alarm


@router.get(
    "/coldchain/alarms/{alarm_id}",
    response_model=AlarmOut,
    summary="One cold-chain alarm",
    responses=responses(401, 403, 404, 422),
)
async def get_alarm(alarm_id: Annotated[int, Path(ge=1, le=MAX_INT32)], principal: Read,
                    session: SessionDep) -> AlarmOut:  # fmt: skip
    return AlarmOut.of(await _alarm(session, alarm_id, principal))


@router.post(
    "/coldchain/alarms/{alarm_id}/acknowledge",
    response_model=AlarmOut,
    summary="Acknowledge an alarm with a comment (stops its escalation; clears it when its "
    "condition has ended)",
    responses=responses(401, 403, 404, 409, 422),
)
async def acknowledge(
    alarm_id: Annotated[int, Path(ge=1, le=MAX_INT32)],
    body: AckIn,
    principal: Write,
    session: SessionDep,
) -> AlarmOut:
    alarm = await _alarm(session, alarm_id, principal)
    principal.require_write(alarm.county, None if alarm.org_id is None else str(alarm.org_id))
    try:
        await lifecycle.acknowledge(
            session, alarm, actor=principal.actor, comment=body.comment, now=utcnow()
        )
    except lifecycle.AlarmError as exc:
        raise ApiError(exc.status, str(exc), field=exc.field or None) from None
    await session.commit()
    return AlarmOut.of(alarm)


@router.get(
    "/coldchain/excursions",
    response_model=list[ExcursionOut],
    summary="Excursions of your county (of a device or location) overlapping [start, end), "
    "oldest first (Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_excursions(
    principal: Read,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    device: Annotated[str | None, Query(max_length=128)] = None,
    location_id: Annotated[int | None, Query(ge=1, le=MAX_INT32)] = None,
    start: datetime | None = None,
    end: datetime | None = None,
    county: str | None = None,
    door: Annotated[bool, Query(description="also door openings")] = False,
) -> list[ExcursionOut]:
    q = excursions_query(
        device=device, location_id=location_id, start_ms=_ms(start, "start"),
        end_ms=_ms(end, "end"), counties=principal.counties(county),
        kinds=("excursion", "door") if door else ("excursion",),
    )  # fmt: skip
    found = await fetch_page(session, q, EXCURSION_KEYS, page)
    link_next(request, response, found.next_cursor)
    return [ExcursionOut.of(e) for e in found.rows]


@router.get(
    "/coldchain/devices/{device}/mkt",
    response_model=MktOut,
    summary="MKT (ΔH/R = 10,000 K, duration-weighted), min, max, mean and time out of range "
    "of a device's temperature over [start, end), from the time series",
    responses=responses(401, 403, 404, 422, 503),
)
async def device_mkt(
    device: Annotated[str, Path(max_length=128)],
    principal: Read,
    session: SessionDep,
    tsdb: TsdbDep,
    metric: Annotated[str | None, Query(max_length=64)] = None,
    low: float | None = None,
    high: float | None = None,
    poll_s: Annotated[float | None, Query(gt=0, le=3600)] = None,
    start: Annotated[datetime | None, Query(description="required; ISO 8601 with a zone")] = None,
    end: Annotated[datetime | None, Query(description="required; ISO 8601 with a zone")] = None,
) -> MktOut:
    start_ms, end_ms = _ms(start, "start"), _ms(end, "end")
    if start_ms is None:
        raise ApiError(422, "query.start: required", field="query.start")
    if end_ms is None:
        raise ApiError(422, "query.end: required", field="query.end")
    if end_ms <= start_ms:
        raise ApiError(422, "query.end: must be after start", field="query.end")
    if end_ms - start_ms > MAX_SPAN_MS:
        raise ApiError(422, "query.end: at most 400 days after start", field="query.end")
    for name, v in (("low", low), ("high", high)):
        if v is not None and not (math.isfinite(v) and -273.15 < v < 1000):
            raise ApiError(
                422, f"query.{name}: {v} is not a temperature (°C)", field=f"query.{name}"
            )
    if low is not None and high is not None and low > high:
        raise ApiError(422, f"query.low: {low} is above high {high}", field="query.low")
    if metric is not None:
        try:
            check_metric(metric)
        except ValueError as exc:
            raise ApiError(422, f"query.metric: {exc}", field="query.metric") from None
    counties = principal.counties()
    known = await session.get(Device, device)
    if known is None or not principal.can_see(known.county):
        raise ApiError(404, f"device {device!r} not found")
    try:
        measurement = await tsdb.measurement_of(device, counties=counties)
    except ValueError as exc:
        raise ApiError(422, f"path.device: {exc}", field="path.device") from None
    except TimeSeriesError as exc:
        raise ApiError(503, f"time-series store unavailable: {exc}") from None
    if measurement is None:
        raise ApiError(404, f"device {device!r} not found")
    profile = await _profile_of(session, device, counties)
    if profile is not None:
        low = profile.temp_min_c if low is None else low
        high = profile.temp_max_c if high is None else high
    try:
        probe = await tsdb.raw_rows(
            measurement, device, start_ms, min(end_ms, start_ms + 3_600_000), counties=counties
        )
        if metric is None:
            seen = {f for _, fs in probe for f in fs}
            metric = next((m for m in TEMPERATURE_METRICS if m in seen), "temperature")
        if poll_s is None:
            found = poll_interval_ms([t for t, fs in probe if metric in fs])
            poll_s = found / 1000 if found else DEFAULT_POLL_S
        e = await tsdb.evidence(
            device, metric, start_ms, end_ms, counties=counties, poll_interval_s=poll_s,
            low=low, high=high, measurement=measurement,
        )  # fmt: skip
    except TimeSeriesError as exc:
        raise ApiError(503, f"time-series store unavailable: {exc}") from None
    out = summary(e)
    return MktOut(**out, extra={"profile_id": profile.id if profile else None})


async def _profile_of(
    session: SessionDep, device: str, counties: list[str] | None
) -> CommodityProfile | None:
    """The profile of the location the device measures now, if that location is of a
    county the caller sees."""
    q = (
        select(CommodityProfile)
        .join(Location, Location.profile_id == CommodityProfile.id)
        .join(LocationDevice, LocationDevice.location_id == Location.id)
        .where(LocationDevice.device_id == device, LocationDevice.until.is_(None))
    )
    if counties is not None:
        q = q.where(Location.county.in_(counties))
    return await session.scalar(q.limit(1))
