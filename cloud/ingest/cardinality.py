"""The cardinality guard: a gateway may report at most ``cap`` distinct devices.

Every device is a series in InfluxDB's index; a gateway that floods the cloud
with invented device ids (a bug, a hostile tag nearby) must not be able to blow
the index up. Devices already in the registry for that gateway count toward
the cap; beyond it, new devices are refused (dead-lettered with the reason,
counted in ``dehong_ingest_cardinality_refused_total``), known ones still pass.
"""

from __future__ import annotations

from sqlalchemy import select

from cloud.db import Database
from cloud.devices.storage import Device


class CardinalityGuard:
    def __init__(self, db: Database, cap: int) -> None:
        if cap < 1:
            raise ValueError("max_devices_per_gateway: must be at least 1")
        self.db = db
        self.cap = cap
        self._known: dict[str, set[str]] = {}

    async def admit(self, gateway: str, device: str) -> bool:
        known = self._known.get(gateway)
        if known is None:
            async with self.db.session() as s:
                rows = await s.execute(select(Device.id).where(Device.gateway_id == gateway))
                known = set(rows.scalars())
            self._known[gateway] = known
        if device in known:
            return True
        if len(known) >= self.cap:
            return False
        known.add(device)
        return True

    def known_counts(self) -> dict[str, int]:
        """Devices known per gateway (for reports)."""
        return {gw: len(devs) for gw, devs in self._known.items()}
