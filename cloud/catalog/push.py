"""Commodity profiles to the gateways: each room's profile as the gateway's local alarms.

The gateway's config has a ``profiles`` section that the cloud owns
(:class:`edge.config.ProfileConfig`). After any change that alters what a gateway
should enforce (a profile assigned to or removed from a location, a device linked to
or unlinked from a location with a profile, a profile's values edited), the whole
section for that gateway is rebuilt from the catalog and sent with the existing
``set-config`` command (``args.sections``), through :func:`cloud.devices.commands.send`:
recorded, audited (``command.sent``), answered on ``cmd/ack`` and listed under
``GET /api/v1/gateways/{id}/commands``. Each push carries the whole section, so the
newest one wins and a lost one is repaired by the next; the gateway's persistent
session keeps it while the gateway is offline, up to :data:`PROFILE_TTL_S`.

Only devices wired to a gateway (``{gateway}.{local}``) are pushed: a BLE tag or a
vehicle has no gateway of its own; its cold chain is judged in the cloud. Only devices
known to measure a temperature are pushed: their metrics come from their readings, or
else from the gateway's birth inventory; a device known by neither (never reported,
not in the inventory) or without a temperature metric (a door contact linked to the
room, which the cloud's engine reads beside the room's sensor) is left out with a note,
since the gateway refuses a profile whose metric its device does not have.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiomqtt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.catalog.storage import CommodityProfile, Location, LocationDevice
from cloud.db import Database
from cloud.devices import commands
from cloud.devices.storage import Device, Gateway
from protocol.ids import LOCAL_ID_RE

#: A profile push waits this long for a gateway that is offline, s.
PROFILE_TTL_S = 7 * 86_400
#: The metric a room's temperature and humidity go by, in this order of preference.
TEMPERATURE_METRICS = ("temperature", "temp_c", "temp", "air_temperature")
HUMIDITY_METRICS = ("humidity", "rh", "relative_humidity")


@dataclass(frozen=True, slots=True)
class Push:
    gateway_id: str
    command_id: str | None
    sent: bool
    profiles: int
    detail: str


def _pick(known: list[str] | None, wanted: tuple[str, ...]) -> str | None:
    """The device's metric for this quantity (None: it has none, or is not known)."""
    if known is None:
        return None
    return next((m for m in wanted if m in known), None)


def _entry(local: str, profile: CommodityProfile, metrics: list[str] | None) -> dict[str, Any]:
    temp = _pick(metrics, TEMPERATURE_METRICS)
    assert temp is not None
    entry: dict[str, Any] = {
        "id": f"profile-{profile.id}",
        "name": " ".join(n for n in (profile.name, profile.name_en) if n)[:100],
        "device": local,
        "temperature": {"metric": temp, "min": profile.temp_min_c, "max": profile.temp_max_c},
        "single_excursion_s": profile.single_excursion_max_s,
        "severity": "critical",
    }
    rh = _pick(metrics, HUMIDITY_METRICS)
    if profile.rh_min is not None and profile.rh_max is not None and rh is not None:
        entry["humidity"] = {"metric": rh, "min": profile.rh_min, "max": profile.rh_max}
    return entry


async def gateway_section(
    s: AsyncSession, gateway_id: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """The ``profiles`` section of a gateway's config, and notes on what was left out."""
    prefix = f"{gateway_id}."
    rows = (
        await s.execute(
            select(LocationDevice.device_id, CommodityProfile)
            .join(Location, Location.id == LocationDevice.location_id)
            .join(CommodityProfile, CommodityProfile.id == Location.profile_id)
            .where(
                LocationDevice.until.is_(None),
                LocationDevice.device_id.startswith(prefix, autoescape=True),
            )
            .order_by(LocationDevice.device_id)
        )
    ).all()
    known: dict[str, list[str]] = {}
    gateway = await s.get(Gateway, gateway_id)
    for item in (gateway.inventory or []) if gateway is not None else []:
        if isinstance(item, dict) and isinstance(item.get("device"), str):
            known[item["device"]] = [str(m) for m in item.get("metrics") or []]
    for d in await s.scalars(select(Device).where(Device.id.in_([r[0] for r in rows]))):
        known[d.id] = sorted({*known.get(d.id, []), *d.metrics})
    entries: list[dict[str, Any]] = []
    notes: list[str] = []
    for device_id, profile in rows:
        local = device_id[len(prefix) :]
        metrics = known.get(device_id)
        if not LOCAL_ID_RE.match(local):
            notes.append(f"{device_id}: not a local device id the gateway's config can name")
        elif metrics is None:
            notes.append(
                f"{device_id}: not reported yet and not in the gateway's inventory; its "
                "profile is pushed with the next change after it has"
            )
        elif _pick(metrics, TEMPERATURE_METRICS) is None:
            notes.append(
                f"{device_id}: reports no temperature metric ({', '.join(metrics or [])}); "
                "no local alarm for it"
            )
        else:
            entries.append(_entry(local, profile, metrics))
            if profile.rh_min is not None and "humidity" not in entries[-1]:
                notes.append(f"{device_id}: reports no humidity metric; temperature only")
    return entries, notes


async def gateways_of_location(s: AsyncSession, location_id: int) -> set[str]:
    """The registered gateways the location's current devices are wired to."""
    devices = await s.scalars(
        select(LocationDevice.device_id).where(
            LocationDevice.location_id == location_id, LocationDevice.until.is_(None)
        )
    )
    return await _registered({d.partition(".")[0] for d in devices if "." in d}, s)


async def gateways_of_profile(s: AsyncSession, profile_id: int) -> set[str]:
    """The registered gateways of every room the profile is assigned to."""
    devices = await s.scalars(
        select(LocationDevice.device_id)
        .join(Location, Location.id == LocationDevice.location_id)
        .where(Location.profile_id == profile_id, LocationDevice.until.is_(None))
    )
    return await _registered({d.partition(".")[0] for d in devices if "." in d}, s)


async def _registered(ids: set[str], s: AsyncSession) -> set[str]:
    if not ids:
        return set()
    return set(await s.scalars(select(Gateway.id).where(Gateway.id.in_(ids))))


async def push_profiles(
    db: Database, publish: commands.Publish, gateway_ids: Iterable[str], *, actor: str
) -> list[Push]:
    """Send each gateway its whole ``profiles`` section; one :class:`Push` per gateway."""
    out: list[Push] = []
    for gateway_id in sorted(set(gateway_ids)):
        async with db.session() as s:
            gateway = await s.get(Gateway, gateway_id)
            if gateway is None or gateway.revoked_at is not None:
                out.append(Push(gateway_id, None, False, 0, "gateway revoked: nothing sent"))
                continue
            entries, notes = await gateway_section(s, gateway_id)
        args = {"sections": {"profiles": entries}}
        try:
            cmd = await commands.send(
                db, publish, gateway, "set-config", args, PROFILE_TTL_S, actor=actor
            )
        except (aiomqtt.MqttError, OSError) as exc:
            detail = (
                f"broker unavailable ({exc}): the command is recorded and expires "
                "unanswered; repeat the change to send it again"
            )
            out.append(Push(gateway_id, None, False, len(entries), detail))
            continue
        summary = f"set-config sent: {len(entries)} room profile(s)"
        out.append(Push(gateway_id, cmd.id, True, len(entries), "; ".join([summary, *notes])))
    return out
