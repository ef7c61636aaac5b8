"""Reading the device registry (written by the ingest worker) and the time-series store."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.devices.schemas import DeviceOut, GatewayOut, GatewayStatus
from cloud.devices.storage import Device, Gateway
from cloud.pagination import Key, Page, PageParams, fetch_page

#: At most this many buckets in one series request.
MAX_BUCKETS = 10_000
DEFAULT_RANGE = timedelta(hours=24)
#: Steps for an automatic ``every``: the smallest giving at most AUTO_BUCKETS buckets.
AUTO_BUCKETS = 1000
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION_RE = re.compile(r"^([1-9][0-9]{0,9})(ms|s|m|h|d)$")
_NICE = ("1s", "5s", "10s", "30s", "1m", "5m", "10m", "15m", "30m", "1h", "3h", "6h", "12h", "1d")


def gateway_status(gw: Gateway) -> GatewayStatus:
    if gw.revoked_at is not None:
        return "revoked"
    if gw.birth_session > gw.death_session:
        return "online"
    if gw.last_birth_at is None and gw.last_seen_at is None and gw.birth_session < 0:
        return "never_seen"
    return "offline"


def gateway_out(gw: Gateway) -> GatewayOut:
    return GatewayOut(
        id=gw.id,
        county=gw.county,
        name=gw.name,
        site=gw.site,
        online=gw.online,
        status=gateway_status(gw),
        created_at=gw.created_at,
        revoked_at=gw.revoked_at,
        last_seen_at=gw.last_seen_at,
        last_birth_at=gw.last_birth_at,
        last_death_at=gw.last_death_at,
        birth_session=gw.birth_session,
        death_session=gw.death_session,
        versions=dict(gw.versions or {}),
        config_hash=gw.config_hash,
    )


def ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def dt_to_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def device_out(d: Device) -> DeviceOut:
    return DeviceOut(
        id=d.id,
        county=d.county,
        kind=d.kind,
        site=d.site,
        gateway_id=d.gateway_id,
        metrics=list(d.metrics or []),
        first_seen_at=d.first_seen_at,
        last_seen_at=d.last_seen_at,
        last_reading_ms=d.last_reading_ms,
        last_reading_at=ms_to_dt(d.last_reading_ms) if d.last_reading_ms > 0 else None,
        readings=d.readings,
    )


#: Keyset orders of the lists (cloud/pagination.py).
GATEWAY_KEYS = (Key(Gateway.county), Key(Gateway.id))
DEVICE_KEYS = (Key(Device.county), Key(Device.id))


def gateways_query(counties: list[str] | None) -> Select[tuple[Gateway]]:
    q = select(Gateway)
    if counties is not None:
        q = q.where(Gateway.county.in_(counties))
    return q


async def list_gateways(session: AsyncSession, counties: list[str] | None) -> list[Gateway]:
    q = gateways_query(counties).order_by(Gateway.county, Gateway.id)
    return list((await session.execute(q)).scalars())


async def list_devices(
    session: AsyncSession,
    counties: list[str] | None,
    page: PageParams,
    *,
    gateway: str | None = None,
) -> Page[Device]:
    q = select(Device)
    if counties is not None:
        q = q.where(Device.county.in_(counties))
    if gateway is not None:
        q = q.where(Device.gateway_id == gateway)
    return await fetch_page(session, q, DEVICE_KEYS, page)


def parse_duration(text: str) -> int:
    """``"5m"`` -> 300000 ms. Units ms, s, m, h, d. ValueError says what is accepted."""
    m = _DURATION_RE.match(text.strip())
    if not m:
        raise ValueError(
            f"invalid duration {text!r}: use a positive whole number and a unit "
            "ms, s, m, h or d, e.g. 1m, 5m, 1h"
        )
    return int(m.group(1)) * _UNITS_MS[m.group(2)]


def auto_every(span_ms: int) -> str:
    for step in _NICE:
        if math.ceil(span_ms / parse_duration(step)) <= AUTO_BUCKETS:
            return step
    return "1d"


def bucket_count(start_ms: int, end_ms: int, every_ms: int) -> int:
    """Windows are epoch-aligned, so a range can touch one more than span / every."""
    return (end_ms - 1) // every_ms - start_ms // every_ms + 1
