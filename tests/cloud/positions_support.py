"""Vehicles and trackers for the positions tests."""

from __future__ import annotations

from cloud.catalog.storage import MobileDevice, Organisation
from cloud.db import utcnow
from tests.support.api import ApiEnv


async def add_vehicle(env: ApiEnv, vehicle: str, county: str) -> None:
    """A carrier of ``county`` and its vehicle (a mobile device of kind vehicle)."""
    async with env.db.transaction() as s:
        if await s.get(MobileDevice, vehicle) is not None:
            return
        org = Organisation(
            kind="carrier", name=f"Carrier {vehicle}", uscc=f"Y{county}{abs(hash(vehicle)) % 10**11:011d}",
            county=county, created_at=utcnow(), created_by="test",
        )  # fmt: skip
        s.add(org)
        await s.flush()
        s.add(
            MobileDevice(
                device_id=vehicle, kind="vehicle", org_id=org.id, county=county,
                registered_at=utcnow(), registered_by="test",
            )
        )  # fmt: skip
