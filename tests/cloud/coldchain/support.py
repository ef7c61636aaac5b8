"""A place with a profile and a device measuring it, and readings to write."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from cloud.catalog.storage import CommodityProfile, Location, LocationDevice
from cloud.db import Database, utcnow
from cloud.timeseries import PointBlock

T0 = 1_780_272_000_000  # 2026-06-01T00:00:00Z
MIN = 60_000
_n = itertools.count(1)


async def make_place(
    db: Database,
    device: str,
    *,
    county: str = "533103",
    low: float = 2.0,
    high: float = 8.0,
    single_s: int = 1800,
    cumulative_s: int = 3600,
    kind: str = "cold_room",
) -> int:
    n = next(_n)
    async with db.transaction() as s:
        prof = CommodityProfile(
            county=county, name=f"p{n}", temp_min_c=low, temp_max_c=high,
            single_excursion_max_s=single_s, cumulative_excursion_max_s=cumulative_s,
            categories=["fruit"], created_at=utcnow(), created_by="test",
        )  # fmt: skip
        s.add(prof)
        await s.flush()
        loc = Location(
            kind=kind, name=f"冷库 {n}", county=county, gln=f"{6920000000000 + n}",
            gln_extension="", profile_id=prof.id, created_at=utcnow(), created_by="test",
        )  # fmt: skip
        s.add(loc)
        await s.flush()
        s.add(LocationDevice(location_id=loc.id, device_id=device, since=utcnow(),
                             created_by="test"))  # fmt: skip
        return loc.id


def block(
    device: str,
    ts: Sequence[int],
    temps: Sequence[float],
    *,
    county: str = "533103",
    metric: str = "temp_c",
    measurement: str = "cold_room",
    extra: dict[str, Sequence[float | None]] | None = None,
) -> PointBlock:
    return PointBlock(measurement, device, county, "site", list(ts),
                      {metric: list(temps), **(extra or {})})  # fmt: skip


def minutes(
    values: Sequence[float], start: int = T0, every: int = MIN
) -> tuple[list[int], list[float]]:
    return [start + i * every for i in range(len(values))], list(values)


async def link(db: Database, location_id: int, device: str) -> None:
    async with db.transaction() as s:
        s.add(LocationDevice(location_id=location_id, device_id=device, since=utcnow(),
                             created_by="test"))  # fmt: skip
