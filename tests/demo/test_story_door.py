"""The demo's door contact in the cold chain (issue 16): Mangshi's MCU door node
(``mangshi-coop-01.door-0``) is linked to the green coffee room beside the room's
sensor; the profile push leaves it out (no temperature: the gateway would refuse that
set-config), and the cloud's engine classes a spike while the door was open as a door
opening, not an excursion."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from cloud.catalog.push import gateway_section
from cloud.catalog.storage import LocationDevice
from cloud.coldchain.clock import ManualClock
from cloud.coldchain.engine import Engine
from cloud.coldchain.storage import ColdchainExcursion
from cloud.db import Database, utcnow
from cloud.devices.storage import Device
from cloud.provisioning.service import provision_gateway
from cloud.timeseries.sqlite import SqliteStore
from dehong import story as story_mod
from tests.cloud.coldchain.support import MIN, T0, block, minutes
from tests.support.schema import migrate_async

GW = "mangshi-coop-01"
ROOM, DOOR = story_mod.COFFEE_ROOM_DEVICE, story_mod.COFFEE_DOOR_DEVICE


async def _kinds(db: Database) -> list[str]:
    async with db.session() as s:
        q = select(ColdchainExcursion.kind).where(ColdchainExcursion.device == ROOM)
        return list((await s.scalars(q.order_by(ColdchainExcursion.start_ms))).all())


async def test_the_door_contact_classes_a_spike_and_is_not_pushed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    await migrate_async(url)
    db = Database(url)
    ts = SqliteStore(tmp_path / "ts.db")
    await ts.open()
    try:
        for gateway, county, site in ((GW, "533103", "mangshi-coffee"),
                                      ("longchuan-coop-01", "533124", "longchuan-store")):  # fmt: skip
            await provision_gateway(db, county, gateway, site, gateway, actor="test")
        async with db.transaction() as s:  # the room has reported; the door node not yet
            s.add(Device(id=ROOM, county="533103", kind="cold_room", site="mangshi-coffee",
                         gateway_id=GW, metrics=["temperature", "humidity", "setpoint"],
                         first_seen_at=utcnow(), last_seen_at=utcnow(), readings=0))  # fmt: skip
        cat = await story_mod.master_data(db)
        await story_mod.master_data(db)  # again: nothing changes
        async with db.session() as s:
            linked = (
                await s.scalars(
                    select(LocationDevice.device_id).where(
                        LocationDevice.location_id == cat.locations["coffee_room"].id,
                        LocationDevice.until.is_(None),
                    )
                )
            ).all()
            assert sorted(linked) == sorted([ROOM, DOOR])
            # the push: the room's profile only; the door node, never heard, is left out
            entries, notes = await gateway_section(s, GW)
        assert [e["device"] for e in entries] == ["room-0"], entries
        assert any(n.startswith(f"{DOOR}: not reported yet") for n in notes), notes
        async with db.transaction() as s:  # reported now: a door contact, no temperature
            s.add(Device(id=DOOR, county="533103", kind="sensor_node", site="mangshi-coffee",
                         gateway_id=GW, metrics=["door_open"], first_seen_at=utcnow(),
                         last_seen_at=utcnow(), readings=0))  # fmt: skip
        async with db.session() as s:
            entries, notes = await gateway_section(s, GW)
        assert [e["device"] for e in entries] == ["room-0"]
        assert any(n.startswith(f"{DOOR}: reports no temperature metric") for n in notes), notes

        # a spike above the green-coffee profile's 25 °C, the door open as it starts
        engine = Engine(db, ts, clock=ManualClock())
        spike = block(ROOM, *minutes([20, 20, 27, 27, 27, 26, 20, 20]), metric="temperature")
        await ts.write_blocks([spike])
        engine.readings_written([spike])
        await engine.step()
        assert await _kinds(db) == ["excursion"]
        door = block(DOOR, [T0 + MIN, T0 + 2 * MIN], [1.0, 0.0], metric="door_open",
                     measurement="sensor_node")  # fmt: skip
        await ts.write_blocks([door])
        engine.readings_written([door])
        await engine.step()
        assert await _kinds(db) == ["door"]
    finally:
        await ts.close()
        await db.dispose()
