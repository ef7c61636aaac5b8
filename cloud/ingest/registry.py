"""What ingest knows of the registry: which gateways exist, in which county, and
their session state from ``birth``/``death``. Devices are learned from data.

The gateway cache is reloaded when an unknown gateway appears (at most once per
``reload_interval_s``), so a gateway provisioned a moment ago is accepted without
restarting ingest, and a flood of unknown ids cannot hammer the database. It is
also reloaded once it is ``max_age_s`` old (5 s), so a revocation made by the API
in another process is refused within that bound, whatever the broker did.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import Database, utcnow
from cloud.db.upsert import dialect_insert
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


#: A cached gateway (its county, its revocation) is at most this old, s.
MAX_AGE_S = 5.0


class Registry:
    def __init__(
        self, db: Database, reload_interval_s: float = 1.0, max_age_s: float = MAX_AGE_S
    ) -> None:
        self.db = db
        self.reload_interval_s = reload_interval_s
        self.max_age_s = max_age_s
        self._gateways: dict[str, KnownGateway] = {}
        self._loaded_at = float("-inf")
        #: the metrics recorded for a device, as far as this process knows
        self._metrics: dict[str, frozenset[str]] = {}

    async def reload(self) -> None:
        async with self.db.session() as s:
            rows = (await s.execute(select(Gateway))).scalars().all()
        self._gateways = {
            g.id: KnownGateway(g.id, g.county, g.site, g.revoked_at is not None) for g in rows
        }
        self._loaded_at = time.monotonic()

    async def gateway(self, gateway_id: str) -> KnownGateway | None:
        known = self._gateways.get(gateway_id)
        age = time.monotonic() - self._loaded_at
        if age >= self.max_age_s or (known is None and age >= self.reload_interval_s):
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

        One statement inserts or updates every device of the group (plus one query for
        devices whose metrics may have grown). With ``session``, inside the caller's
        transaction: if that fails, the caller calls :meth:`forget_metrics`.
        """
        if session is None:
            try:
                async with self.db.transaction() as s:
                    await self._seen(s, gateways, devices)
            except BaseException:
                self.forget_metrics()
                raise
        else:
            await self._seen(session, gateways, devices)

    def forget_metrics(self) -> None:
        """Drop what this process believes the registry holds (after a failed transaction)."""
        self._metrics.clear()

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
                if d.last_ms >= prev.last_ms:
                    prev.county = d.county
                prev.metrics |= d.metrics
                prev.last_ms = max(prev.last_ms, d.last_ms)
                prev.readings += d.readings
        if gw_ids:
            await s.execute(update(Gateway).where(Gateway.id.in_(gw_ids)).values(last_seen_at=now))
        if not merged:
            return
        ids = sorted(merged)
        # A device's metrics are every metric it ever reported. Those of devices whose
        # metrics this process has recorded already are left alone; the others (new
        # devices, new metrics) are read and written as the union.
        unsure = [i for i in ids if not merged[i].metrics <= self._metrics.get(i, frozenset())]
        recorded: dict[str, list[str]] = {}
        if unsure:
            rows = await s.execute(select(Device.id, Device.metrics).where(Device.id.in_(unsure)))
            recorded = {device_id: list(metrics or ()) for device_id, metrics in rows}
        values = []
        for device_id in ids:
            d = merged[device_id]
            metrics = self._metrics.get(device_id, frozenset()) | d.metrics
            metrics |= set(recorded.get(device_id, ()))
            values.append(
                {
                    "id": d.device,
                    "county": d.county,
                    "kind": d.kind,
                    "site": d.site,
                    "gateway_id": d.gateway,
                    "metrics": sorted(metrics),
                    "first_seen_at": now,
                    "last_seen_at": now,
                    "last_reading_ms": d.last_ms,
                    "readings": d.readings,
                }
            )
        # One statement for the whole group, in id order (two workers lock rows alike).
        # Another worker may insert the same device meanwhile: its row is updated.
        ins = dialect_insert(s, Device)
        new = ins.excluded
        changes: dict[str, Any] = {
            # the county it belongs to now (its owner's, or the county whose gateway heard
            # its newest reading): never frozen at first sight, not moved back by a backlog
            "county": case(
                (new.last_reading_ms >= Device.last_reading_ms, new.county), else_=Device.county
            ),
            "gateway_id": new.gateway_id,
            "last_seen_at": new.last_seen_at,
            "last_reading_ms": case(
                (new.last_reading_ms > Device.last_reading_ms, new.last_reading_ms),
                else_=Device.last_reading_ms,
            ),
            "readings": Device.readings + new.readings,
        }
        await s.execute(ins.on_conflict_do_update(index_elements=["id"], set_=changes), values)
        # the grown metrics of devices recorded before (their rows are locked already)
        grown = [
            {"id": row["id"], "metrics": row["metrics"]}
            for row in values
            if row["id"] in recorded and row["metrics"] != sorted(recorded[row["id"]])
        ]
        if grown:
            await s.execute(update(Device), grown)
        # A device thought new may have been inserted by another worker meanwhile with
        # metrics of its own: it is read once more (next time) before it is trusted.
        for row in values:
            if row["id"] in recorded:
                self._metrics[row["id"]] = frozenset(row["metrics"])


def ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
