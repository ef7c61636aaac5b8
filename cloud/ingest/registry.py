"""What ingest knows of the registry: which gateways exist, in which county, and
their session state from ``birth``/``death``. Devices are learned from data.

The gateway cache is reloaded when an unknown gateway appears (at most once per
``reload_interval_s``), so a gateway provisioned a moment ago is accepted without
restarting ingest, and a flood of unknown ids cannot hammer the database.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import Database, utcnow
from cloud.db.upsert import upsert
from cloud.devices.storage import Device, Gateway
from protocol.messages import Birth, Death


@dataclass(frozen=True, slots=True)
class KnownGateway:
    id: str
    county: str
    site: str
    revoked: bool


@dataclass(slots=True)
class DeviceSeen:
    device: str
    county: str
    kind: str
    site: str
    gateway: str
    metrics: set[str]
    last_ms: int
    readings: int


class Registry:
    def __init__(self, db: Database, reload_interval_s: float = 1.0) -> None:
        self.db = db
        self.reload_interval_s = reload_interval_s
        self._gateways: dict[str, KnownGateway] = {}
        self._loaded_at = float("-inf")

    async def reload(self) -> None:
        async with self.db.session() as s:
            rows = (await s.execute(select(Gateway))).scalars().all()
        self._gateways = {
            g.id: KnownGateway(g.id, g.county, g.site, g.revoked_at is not None) for g in rows
        }
        self._loaded_at = time.monotonic()

    async def gateway(self, gateway_id: str) -> KnownGateway | None:
        known = self._gateways.get(gateway_id)
        if known is None and time.monotonic() - self._loaded_at >= self.reload_interval_s:
            await self.reload()
            known = self._gateways.get(gateway_id)
        return known

    async def on_birth(self, birth: Birth) -> None:
        now = utcnow()
        async with self.db.transaction() as s:
            g = await s.get(Gateway, birth.gw, with_for_update=not self.db.is_sqlite)
            if g is None:
                return
            if birth.session >= g.birth_session:
                g.birth_session = birth.session
                g.last_birth_at = now
                g.versions = dict(birth.versions)
                g.config_hash = birth.config_hash
                g.inventory = [item.model_dump(mode="json") for item in birth.inventory]
            g.last_seen_at = now

    async def on_death(self, death: Death) -> None:
        async with self.db.transaction() as s:
            g = await s.get(Gateway, death.gw, with_for_update=not self.db.is_sqlite)
            if g is None:
                return
            # A stale death (older session than the newest birth) changes nothing:
            # online is birth_session > death_session, whatever order they arrive in.
            if death.session > g.death_session:
                g.death_session = death.session
                g.last_death_at = utcnow()

    async def seen(
        self,
        gateways: Iterable[str],
        devices: Iterable[DeviceSeen],
        session: AsyncSession | None = None,
    ) -> None:
        """Record that data arrived: gateways' last seen, devices learned and updated.

        One query loads every device of the group; new ones are inserted in one statement.
        With ``session``, inside the caller's transaction.
        """
        if session is None:
            async with self.db.transaction() as s:
                await self._seen(s, gateways, devices)
        else:
            await self._seen(session, gateways, devices)

    async def _seen(
        self, s: AsyncSession, gateways: Iterable[str], devices: Iterable[DeviceSeen]
    ) -> None:
        now = utcnow()
        gw_ids = sorted(set(gateways))
        merged: dict[str, DeviceSeen] = {}
        for d in devices:
            prev = merged.get(d.device)
            if prev is None:
                merged[d.device] = DeviceSeen(
                    d.device, d.county, d.kind, d.site, d.gateway, set(d.metrics), d.last_ms,
                    d.readings,
                )  # fmt: skip
            else:
                prev.gateway = d.gateway
                prev.metrics |= d.metrics
                prev.last_ms = max(prev.last_ms, d.last_ms)
                prev.readings += d.readings
        if gw_ids:
            await s.execute(update(Gateway).where(Gateway.id.in_(gw_ids)).values(last_seen_at=now))
        if not merged:
            return
        ids = sorted(merged)
        existing = {
            d.id: d for d in (await s.execute(select(Device).where(Device.id.in_(ids)))).scalars()
        }
        new_rows = [
            {
                "id": d.device,
                "county": d.county,
                "kind": d.kind,
                "site": d.site,
                "gateway_id": d.gateway,
                "metrics": sorted(d.metrics),
                "first_seen_at": now,
                "last_seen_at": now,
                "last_reading_ms": d.last_ms,
                "readings": d.readings,
            }
            for d in (merged[i] for i in ids)
            if d.device not in existing
        ]
        if new_rows:
            # another worker may insert the same device meanwhile: keep its row
            await upsert(s, Device, new_rows, keys=("id",), update=("last_seen_at",))
        for device_id, row in existing.items():
            d = merged[device_id]
            row.gateway_id = d.gateway
            row.last_seen_at = now
            row.last_reading_ms = max(row.last_reading_ms, d.last_ms)
            row.readings = row.readings + d.readings
            metrics = sorted(set(row.metrics) | d.metrics)
            if metrics != list(row.metrics):
                row.metrics = metrics


def ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
