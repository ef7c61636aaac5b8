"""Who owns a mobile device, as ingest needs it: a small cache over ``mobile_devices``.

Ingest asks for the owners of the mobile devices of each batch. An answer (owned or
not) is kept for ``ttl_s``; the ids not known or expired are read with one query, so
a registration made through the API takes effect in every ingest worker within
``ttl_s`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select

from cloud.catalog.storage import MobileDevice
from cloud.db import Database


@dataclass(frozen=True, slots=True)
class Owner:
    org_id: int
    county: str


class Owners:
    def __init__(
        self,
        db: Database,
        ttl_s: float = 2.0,
        *,
        max_entries: int = 200_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._cache: dict[str, tuple[float, Owner | None]] = {}

    async def owners(self, device_ids: Iterable[str]) -> dict[str, Owner | None]:
        """``{device: owner or None (not registered)}`` for these ids."""
        now = self.clock()
        out: dict[str, Owner | None] = {}
        stale: list[str] = []
        for device in dict.fromkeys(device_ids):
            hit = self._cache.get(device)
            if hit is not None and now - hit[0] < self.ttl_s:
                out[device] = hit[1]
            else:
                stale.append(device)
        if stale:
            if len(self._cache) + len(stale) > self.max_entries:
                self._cache = {k: v for k, v in self._cache.items() if now - v[0] < self.ttl_s}
            found: dict[str, Owner] = {}
            async with self.db.session() as s:
                for i in range(0, len(stale), 500):
                    rows = await s.execute(
                        select(MobileDevice.device_id, MobileDevice.org_id, MobileDevice.county)
                        .where(MobileDevice.device_id.in_(stale[i : i + 500]))
                    )  # fmt: skip
                    found.update({d: Owner(org, county) for d, org, county in rows})
            for device in stale:
                owner = found.get(device)
                self._cache[device] = (now, owner)
                out[device] = owner
        return out

    def forget(self) -> None:
        self._cache.clear()
