"""``/api/v1/gateways`` and ``/api/v1/devices``: the registry, latest values and series."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Literal

import aiomqtt
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import BigInteger, CompoundSelect, bindparam, cast, literal, null, select, union_all

from cloud.auth.deps import PrincipalDep, require
from cloud.auth.principal import Principal
from cloud.deps import DatabaseDep, SessionDep, SettingsDep, TsdbDep
from cloud.devices import commands, completeness, series_json, service
from cloud.devices.commands_storage import Command
from cloud.devices.schemas import (
    CommandCreate,
    CommandOut,
    CompletenessOut,
    DeviceOut,
    GapRange,
    GatewayCreate,
    GatewayHealthOut,
    GatewayOut,
    GatewayProvisioned,
    LatestValues,
    MetricValue,
    MqttCredentials,
    MultiSeriesOut,
    SeriesOut,
)
from cloud.devices.storage import Device, Gateway, GatewayHealth
from cloud.errors import ApiError, responses
from cloud.pagination import PageDep, fetch_page, link_next
from cloud.provisioning import service as provisioning
from cloud.timeseries import Bucket, TimeSeriesError, query, rollup
from cloud.timeseries.base import Counties
from cloud.timeseries.windows import choose_resolution
from protocol.ids import COUNTIES, check_metric
from protocol.topics import PREFIX

router = APIRouter()

GatewaysRead = Annotated[Principal, require("gateways:read")]
GatewaysWrite = Annotated[Principal, require("gateways:write")]
DevicesRead = Annotated[Principal, require("devices:read")]

CountyQuery = Annotated[
    str | None, Query(description="Only this county (GB/T 2260 code); must be one you can see")
]


async def _gateway(session: SessionDep, principal: PrincipalDep, gateway_id: str) -> Gateway:
    gw = await session.get(Gateway, gateway_id)
    if gw is None:
        raise ApiError(404, f"gateway {gateway_id!r} not found")
    principal.visible(gw.county, "gateway", gateway_id)
    return gw


async def _device(session: SessionDep, principal: PrincipalDep, device_id: str) -> Device:
    d = await session.get(Device, device_id)
    if d is None:
        raise ApiError(404, f"device {device_id!r} not found")
    principal.visible(d.county, "device", device_id)
    return d


def _unavailable(exc: TimeSeriesError) -> ApiError:
    return ApiError(503, f"time-series store unavailable: {exc}; retry later")


# ------------------------------------------------------------------ gateways


@router.get(
    "/gateways",
    response_model=list[GatewayOut],
    tags=["gateways"],
    summary="List gateways with their session state (keyset pages: Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_gateways(
    principal: GatewaysRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: CountyQuery = None,
) -> list[GatewayOut]:
    q = service.gateways_query(principal.counties(county))
    found = await fetch_page(session, q, service.GATEWAY_KEYS, page)
    link_next(request, response, found.next_cursor)
    return [service.gateway_out(g) for g in found.rows]


@router.get(
    "/gateways/{gateway_id}",
    response_model=GatewayOut,
    tags=["gateways"],
    summary="One gateway",
    responses=responses(401, 404),
)
async def get_gateway(gateway_id: str, principal: GatewaysRead, session: SessionDep) -> GatewayOut:
    return service.gateway_out(await _gateway(session, principal, gateway_id))


@router.post(
    "/gateways",
    response_model=GatewayProvisioned,
    status_code=201,
    tags=["gateways"],
    summary="Provision a gateway; returns its MQTT password once",
    responses=responses(401, 403, 409, 422),
)
async def provision_gateway(
    body: GatewayCreate, principal: GatewaysWrite, db: DatabaseDep, settings: SettingsDep
) -> GatewayProvisioned:
    if body.county not in COUNTIES:
        raise ApiError(
            422,
            f"unknown county code {body.county!r}; use one of {', '.join(COUNTIES)}",
            field="body.county",
        )
    principal.require_write(body.county)
    try:
        gw, password = await provisioning.provision_gateway(
            db,
            body.county,
            body.name,
            body.site,
            body.id,
            actor=principal.actor,
            settings=settings,
        )
    except provisioning.ConflictError as exc:
        raise ApiError(409, str(exc), field=f"body.{exc.field}") from None
    except provisioning.ProvisioningError as exc:
        raise ApiError(422, str(exc), field=f"body.{exc.field}") from None
    return GatewayProvisioned(
        gateway=service.gateway_out(gw),
        mqtt=MqttCredentials(
            username=gw.id, password=password, topic_prefix=f"{PREFIX}/{gw.county}/{gw.id}/"
        ),
    )


@router.post(
    "/gateways/{gateway_id}/revoke",
    response_model=GatewayOut,
    tags=["gateways"],
    summary="Revoke a gateway's broker credentials (its history stays)",
    description="The revocation is recorded first (ingest refuses the gateway's batches "
    "within 10 s); then the broker rereads its files, which also ends the gateway's live "
    "session. 503 when the broker was not updated, with the reason; calling again retries.",
    responses=responses(401, 403, 404, 503),
)
async def revoke_gateway(
    gateway_id: str,
    principal: GatewaysWrite,
    session: SessionDep,
    db: DatabaseDep,
    settings: SettingsDep,
) -> GatewayOut:
    gw = await _gateway(session, principal, gateway_id)
    principal.require_write(gw.county)
    try:
        gw = await provisioning.revoke_gateway(
            db, gateway_id, actor=principal.actor, settings=settings
        )
    except provisioning.BrokerNotUpdated as exc:
        raise ApiError(503, str(exc), headers={"Retry-After": "5"}) from None
    return service.gateway_out(gw)


@router.post(
    "/gateways/{gateway_id}/rotate",
    response_model=GatewayProvisioned,
    tags=["gateways"],
    summary="Rotate a gateway's broker password; returns the new one once",
    responses=responses(401, 403, 404, 409),
)
async def rotate_gateway(
    gateway_id: str,
    principal: GatewaysWrite,
    session: SessionDep,
    db: DatabaseDep,
    settings: SettingsDep,
) -> GatewayProvisioned:
    gw = await _gateway(session, principal, gateway_id)
    principal.require_write(gw.county)
    try:
        gw, password = await provisioning.rotate_gateway(
            db, gateway_id, actor=principal.actor, settings=settings
        )
    except provisioning.ConflictError as exc:
        raise ApiError(409, str(exc), field="path.gateway_id") from None
    return GatewayProvisioned(
        gateway=service.gateway_out(gw),
        mqtt=MqttCredentials(
            username=gw.id, password=password, topic_prefix=f"{PREFIX}/{gw.county}/{gw.id}/"
        ),
    )


@router.get(
    "/gateways/{gateway_id}/completeness",
    response_model=CompletenessOut,
    tags=["gateways"],
    summary="Complete up to which batch, gaps, and the backlog the gateway still holds",
    responses=responses(401, 404),
)
async def gateway_completeness(
    gateway_id: str, principal: GatewaysRead, session: SessionDep
) -> CompletenessOut:
    gw = await _gateway(session, principal, gateway_id)
    c = await completeness.report(session, gw.id)
    return CompletenessOut(
        gateway=gw.id,
        complete_up_to=c.complete_up_to,
        max_seq=c.max_seq,
        missing=c.missing,
        missing_ranges=[GapRange(first=a, last=b) for a, b in c.missing_ranges],
        pending_batches=c.pending_batches,
        buffer_depth=c.buffer_depth,
        buffer_oldest=service.ms_to_dt(c.buffer_oldest_ms) if c.buffer_oldest_ms else None,
        health_at=service.ms_to_dt(c.health_ts_ms) if c.health_ts_ms else None,
    )


@router.get(
    "/gateways/{gateway_id}/health",
    response_model=GatewayHealthOut,
    tags=["gateways"],
    summary="The gateway's newest health: reading counters (taken, sent, acked, pending)",
    responses=responses(401, 404),
)
async def gateway_health(
    gateway_id: str, principal: GatewaysRead, session: SessionDep
) -> GatewayHealthOut:
    gw = await _gateway(session, principal, gateway_id)
    h = await session.get(GatewayHealth, gw.id)
    if h is None:
        return GatewayHealthOut(
            gateway=gw.id, at=None, taken_readings=None, sent_readings=None,
            acked_readings=None, pending_readings=None, pending_batches=None,
            buffer_depth=None, buffer_oldest=None, clock=None,
        )  # fmt: skip
    return GatewayHealthOut(
        gateway=gw.id,
        at=service.ms_to_dt(h.ts_ms),
        taken_readings=h.taken_readings,
        sent_readings=h.sent_readings,
        acked_readings=h.acked_readings,
        pending_readings=h.pending_readings,
        pending_batches=h.pending_batches,
        buffer_depth=h.buffer_depth,
        buffer_oldest=service.ms_to_dt(h.buffer_oldest_ms) if h.buffer_oldest_ms else None,
        clock=h.clock,
    )


def _command_out(cmd: Command) -> CommandOut:
    return CommandOut(
        id=cmd.id,
        gateway=cmd.gateway_id,
        name=cmd.name,
        args=dict(cmd.args or {}),
        issued=service.ms_to_dt(cmd.issued_ms),
        expires=service.ms_to_dt(cmd.expires_ms),
        state=commands.state(cmd, service.dt_to_ms(datetime.now(UTC))),
        status=cmd.status,
        ack_at=cmd.ack_at,
        detail=cmd.detail,
        result=cmd.result,
        created_by=cmd.created_by,
    )


def _publisher(request: Request) -> commands.Publish:
    return commands.app_publisher(request.app.state)


@router.post(
    "/gateways/{gateway_id}/commands",
    response_model=CommandOut,
    status_code=201,
    tags=["gateways"],
    summary="Send a command (cmd) to a gateway, with an expiry",
    responses=responses(401, 403, 404, 409, 422, 503),
)
async def send_command(
    gateway_id: str,
    body: CommandCreate,
    request: Request,
    principal: GatewaysWrite,
    session: SessionDep,
    db: DatabaseDep,
) -> CommandOut:
    gw = await _gateway(session, principal, gateway_id)
    principal.require_write(gw.county)
    if gw.revoked_at is not None:
        raise ApiError(409, f"gateway {gateway_id!r} is revoked", field="path.gateway_id")
    try:
        cmd = await commands.send(
            db, _publisher(request), gw, body.name, body.args, body.ttl_s, actor=principal.actor
        )
    except (aiomqtt.MqttError, OSError) as exc:
        raise ApiError(
            503, f"broker unavailable, command recorded but not sent: {exc}; retry later"
        ) from None
    return _command_out(cmd)


@router.get(
    "/gateways/{gateway_id}/commands",
    response_model=list[CommandOut],
    tags=["gateways"],
    summary="Commands sent to a gateway, newest first; filter pending or expired",
    responses=responses(401, 404, 422),
)
async def list_commands(
    gateway_id: str,
    principal: GatewaysRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    state: Annotated[
        Literal["pending", "expired", "done", "failed", "rejected"] | None, Query()
    ] = None,
) -> list[CommandOut]:
    gw = await _gateway(session, principal, gateway_id)
    found = await commands.list_commands(session, gw.id, state, page)
    link_next(request, response, found.next_cursor)
    return [_command_out(c) for c in found.rows]


# ------------------------------------------------------------------- devices


@router.get(
    "/devices",
    response_model=list[DeviceOut],
    tags=["devices"],
    summary="List devices (keyset pages: Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_devices(
    principal: DevicesRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: CountyQuery = None,
    gateway: Annotated[
        str | None, Query(description="Only devices heard last by this gateway")
    ] = None,
) -> list[DeviceOut]:
    found = await service.list_devices(session, principal.counties(county), page, gateway=gateway)
    link_next(request, response, found.next_cursor)
    return [service.device_out(d) for d in found.rows]


@router.get(
    "/devices/{device_id}",
    response_model=DeviceOut,
    tags=["devices"],
    summary="One device",
    responses=responses(401, 404),
)
async def get_device(device_id: str, principal: DevicesRead, session: SessionDep) -> DeviceOut:
    return service.device_out(await _device(session, principal, device_id))


@router.get(
    "/devices/{device_id}/latest",
    response_model=LatestValues,
    tags=["devices"],
    summary="The newest value of every metric of a device",
    responses=responses(401, 404, 503),
)
async def latest(
    device_id: str, principal: DevicesRead, session: SessionDep, tsdb: TsdbDep
) -> LatestValues:
    d = await _device(session, principal, device_id)
    try:
        values = await tsdb.latest(d.kind, d.id, counties=principal.counties())
    except TimeSeriesError as exc:
        raise _unavailable(exc) from None
    return LatestValues(
        device=d.id,
        kind=d.kind,
        values=[
            MetricValue(
                metric=v.metric,
                ts=service.ms_to_dt(v.ts_ms),
                ts_ms=v.ts_ms,
                value=v.value,
                quality=v.quality,
            )
            for v in values
        ],
    )


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise ApiError(
            422,
            f"{field}: give a time zone, e.g. 2025-01-01T00:00:00Z or +08:00",
            field=f"query.{field}",
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before year 1 in UTC
        raise ApiError(422, f"{field}: out of the range of dates", field=f"query.{field}") from None


@dataclass(frozen=True, slots=True)
class _Window:
    start: datetime
    end: datetime
    every: str
    every_ms: int

    @property
    def start_ms(self) -> int:
        return service.dt_to_ms(self.start)

    @property
    def end_ms(self) -> int:
        return service.dt_to_ms(self.end)


def _window(
    metric: str, start: datetime | None, end: datetime | None, every: str | None
) -> _Window:
    """Validate the query of a series request (422 naming the field)."""
    try:
        check_metric(metric)
    except ValueError as exc:
        raise ApiError(422, str(exc), field="query.metric") from None
    end_dt = _aware(end, "end") if end is not None else datetime.now(UTC)
    if start is not None:
        start_dt = _aware(start, "start")
    elif end_dt - datetime.min.replace(tzinfo=UTC) >= service.DEFAULT_RANGE:
        start_dt = end_dt - service.DEFAULT_RANGE
    else:
        raise ApiError(422, "end: out of the range of dates", field="query.end")
    if end_dt <= start_dt:
        raise ApiError(422, "end must be after start", field="query.end")
    start_ms, end_ms = service.dt_to_ms(start_dt), service.dt_to_ms(end_dt)
    if every is None:
        every = service.auto_every(end_ms - start_ms)
    try:
        every_ms = service.parse_duration(every)
    except ValueError as exc:
        raise ApiError(422, str(exc), field="query.every") from None
    n = service.bucket_count(start_ms, end_ms, every_ms)
    if n > service.MAX_BUCKETS:
        raise ApiError(
            422,
            f"every={every} over this range makes {n} windows, at most {service.MAX_BUCKETS}; "
            "use a longer window or a shorter range",
            field="query.every",
        )
    return _Window(start_dt, end_dt, every, every_ms)


#: The device row (its kind and county) and the state of its roll-ups, in one statement:
#: the roll-ups' rows are those of the measurement named by the device's kind.
_DEVICE_ROW = 9
_KIND_OF = select(Device.kind).where(Device.id == bindparam("device_id")).scalar_subquery()


def _device_and_rollups_statement(*, of_counties: bool) -> CompoundSelect:
    row = select(
        Device.kind,
        Device.county,
        cast(null(), BigInteger),
        cast(null(), BigInteger),
        literal(_DEVICE_ROW),
    ).where(Device.id == bindparam("device_id"))
    return union_all(row, *rollup.state_selects(of_counties=of_counties, measurement=_KIND_OF))


_DEVICE_AND_ROLLUPS = {c: _device_and_rollups_statement(of_counties=c) for c in (False, True)}


async def _device_and_rollups(
    session: SessionDep,
    principal: Principal,
    device_id: str,
    w: _Window,
    counties: list[str] | None,
) -> tuple[str, rollup.RollupState]:
    """``(kind, roll-up state over the window)`` of a device the principal may see (404
    otherwise): one round trip for what ``_device`` and ``rollup.rollup_state`` read."""
    params = rollup.state_params("", [device_id], w.start_ms, w.end_ms, counties)
    params["device_id"] = device_id
    rows = (await session.execute(_DEVICE_AND_ROLLUPS[counties is not None], params)).all()
    found = [r for r in rows if r[4] == _DEVICE_ROW]
    if not found:
        raise ApiError(404, f"device {device_id!r} not found")
    kind, county = found[0][0], found[0][1]
    principal.visible(county, "device", device_id)
    if counties is not None and not counties:
        return kind, rollup.RollupState({}, {}, {}, {}, {})
    return kind, rollup.state_of_rows(rows)


async def _known(
    state: rollup.RollupState, _m: str, _d: Sequence[str], _s: int, _e: int, _c: Counties
) -> rollup.RollupState:
    """A :data:`query.RollupStateOf` answering with the state read already."""
    return state


MetricQuery = Annotated[str, Query(description="Metric name, e.g. temperature")]
StartQuery = Annotated[
    datetime | None, Query(description="ISO-8601 with time zone; default end - 24 h")
]
EndQuery = Annotated[datetime | None, Query(description="ISO-8601 with time zone; default now")]
EveryQuery = Annotated[
    str | None,
    Query(
        description="Window, e.g. 1m, 5m, 1h, 1d (units ms s m h d); default: about 1000 "
        "windows. Days start at Beijing midnight (UTC+8)."
    ),
]


@router.get(
    "/devices/{device_id}/series",
    response_model=SeriesOut,
    tags=["devices"],
    summary="One metric of a device in windows: mean, min, max, count (and MKT)",
    responses=responses(401, 404, 422, 503),
)
async def series(
    device_id: str,
    principal: DevicesRead,
    session: SessionDep,
    tsdb: TsdbDep,
    metric: MetricQuery,
    start: StartQuery = None,
    end: EndQuery = None,
    every: EveryQuery = None,
) -> Response:
    w = _window(metric, start, end, every)
    counties = principal.counties()
    kind, state = await _device_and_rollups(session, principal, device_id, w, counties)
    try:
        resolution, found = await query.windows(
            tsdb,
            kind,
            [device_id],
            metric,
            w.start_ms,
            w.end_ms,
            w.every_ms,
            rollups=partial(_known, state),
            counties=counties,
        )
    except TimeSeriesError as exc:
        raise _unavailable(exc) from None
    head = SeriesOut(
        device=device_id,
        metric=metric,
        start=w.start,
        end=w.end,
        every=w.every,
        every_ms=w.every_ms,
        resolution=resolution,
        buckets=[],
    )
    return series_json.stream_series(head, found.get(device_id, []))


@router.get(
    "/series",
    response_model=MultiSeriesOut,
    tags=["devices"],
    summary="One metric of several devices in the same windows",
    responses=responses(401, 404, 422, 503),
)
async def multi_series(
    principal: DevicesRead,
    session: SessionDep,
    tsdb: TsdbDep,
    metric: MetricQuery,
    device: Annotated[
        list[str], Query(min_length=1, max_length=100, description="Device ids (repeat)")
    ],
    start: StartQuery = None,
    end: EndQuery = None,
    every: EveryQuery = None,
) -> Response:
    w = _window(metric, start, end, every)
    devices = [await _device(session, principal, ident) for ident in dict.fromkeys(device)]
    by_kind: dict[str, list[str]] = {}
    for d in devices:
        by_kind.setdefault(d.kind, []).append(d.id)
    resolution = choose_resolution(
        w.start_ms, w.end_ms, w.every_ms, service.dt_to_ms(datetime.now(UTC))
    )
    found: dict[str, list[Bucket]] = {}
    try:
        for kind, ids in by_kind.items():
            _, got = await query.windows(
                tsdb,
                kind,
                ids,
                metric,
                w.start_ms,
                w.end_ms,
                w.every_ms,
                rollups=partial(rollup.rollup_state, session),
                resolution=resolution,
                counties=principal.counties(),
            )
            found.update(got)
    except TimeSeriesError as exc:
        raise _unavailable(exc) from None
    head = MultiSeriesOut(
        metric=metric,
        start=w.start,
        end=w.end,
        every=w.every,
        every_ms=w.every_ms,
        resolution=resolution,
        series=[],
    )
    return series_json.stream_multi_series(
        head, [(d.id, d.kind, found.get(d.id, [])) for d in devices]
    )
