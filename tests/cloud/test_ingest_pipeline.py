"""Ingest: validation, dead letters, partial batches, duplicates, write-acks, outages.

Runs the pipeline on the embedded stores (SQLite relational + SQLite time series);
the same pipeline over real Mosquitto and InfluxDB is in tests/e2e.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from cloud.db import Database
from cloud.devices.storage import Device, Gateway
from cloud.ingest.deadletter import payload_of
from cloud.ingest.pipeline import Ingest
from cloud.ingest.storage import DeadLetter, EventRecord, ReceivedBatch
from cloud.timeseries import TimeSeriesError
from cloud.timeseries.sqlite import SqliteStore
from protocol.codec import decode, encode
from protocol.messages import Birth, Death, EventMessage, WriteAck
from tests.support.data import batch, batch_bytes, now_ms, room_series
from tests.support.schema import migrate_async

GW = "mangshi-coop-01"
TOPIC = f"dh/v1/533103/{GW}/data"


class Acks:
    def __init__(self) -> None:
        self.sent: list[tuple[str, WriteAck]] = []

    async def __call__(self, topic: str, payload: bytes) -> None:
        self.sent.append((topic, decode(WriteAck, payload)))

    def entries(self) -> list:
        return [e for _, ack in self.sent for e in ack.acks]


@pytest.fixture
async def env(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    db = Database(url)
    async with db.transaction() as s:
        for gid, county in ((GW, "533103"), ("longchuan-coop-01", "533124")):
            s.add(
                Gateway(id=gid, county=county, name=gid, site="site-" + gid, mqtt_password_hash="x")
            )
        s.add(
            Gateway(
                id="revoked-gw",
                county="533103",
                name="r",
                site="s",
                mqtt_password_hash="x",
                revoked_at=__import__("cloud.db", fromlist=["utcnow"]).utcnow(),
            )
        )
    ts = SqliteStore(tmp_path / "ts.db")
    await ts.open()
    acks = Acks()
    ingest = Ingest(db, ts, acks, linger_s=0.01)
    writer = asyncio.create_task(ingest.run_writer())
    yield ingest, db, ts, acks
    writer.cancel()
    await ts.close()
    await db.dispose()


async def dead_letters(db: Database) -> list[DeadLetter]:
    async with db.session() as s:
        return list((await s.execute(select(DeadLetter).order_by(DeadLetter.id))).scalars())


async def test_good_batch_is_written_and_acknowledged(env) -> None:
    ingest, db, ts, acks = env
    await ingest.handle(TOPIC, batch_bytes(GW, 0))
    await ingest.drained()
    assert await ts.count("cold_room", f"{GW}.room-1") == 60
    ((topic, ack),) = acks.sent
    assert topic == f"dh/v1/533103/{GW}/ack"
    assert ack.acks[0].status == "stored" and ack.acks[0].stored == 240
    async with db.session() as s:
        dev = await s.get(Device, f"{GW}.room-1")
    assert dev is not None and dev.county == "533103" and dev.site == f"site-{GW}"
    assert dev.readings == 240 and set(dev.metrics) == {
        "temperature",
        "humidity",
        "door",
        "compressor",
    }


async def test_resend_is_idempotent_and_counted(env) -> None:
    ingest, db, ts, acks = env
    payload = batch_bytes(GW, 7)
    for _ in range(3):
        await ingest.handle(TOPIC, payload)
        await ingest.drained()
    assert await ts.count("cold_room") == 60
    assert ingest.metrics.duplicates == 2
    assert len(acks.entries()) == 3  # every delivery is acknowledged again
    async with db.session() as s:
        (rb,) = (await s.execute(select(ReceivedBatch))).scalars()
    assert rb.deliveries == 3 and rb.seq == 7


BAD = [
    ("not_json", "", b"\x00\x01 not json"),
    ("schema_version", "v", orjson.dumps({"v": 2, "gw": GW})),
    ("too_large", "", b"{" + b" " * 300_000 + b"}"),
    ("invalid", "series[0].values.temperature[1]", None),  # a string where a float belongs
    ("timestamp_future", "series[0].t0", None),
    ("timestamp_old", "series[0].t0", None),
    ("gateway_mismatch", "gw", None),
    ("unregistered", "gw", None),
    ("county_mismatch", "topic", None),
    ("revoked", "gw", None),
    ("device_not_owned", "series[0].device", None),
]


def bad_payload(code: str) -> tuple[str, bytes]:
    if code == "invalid":
        raw = orjson.loads(batch_bytes(GW, 1))
        raw["series"][0]["values"]["temperature"][1] = "4.2"
        return TOPIC, orjson.dumps(raw)
    if code == "timestamp_future":
        return TOPIC, batch_bytes(GW, 1, t0=now_ms() + 3_600_000)
    if code == "timestamp_old":
        return TOPIC, batch_bytes(GW, 1, t0=0)  # 1970
    if code == "gateway_mismatch":
        return TOPIC, batch_bytes("other-gw", 1)
    if code == "unregistered":
        return "dh/v1/533103/ghost-gw/data", batch_bytes("ghost-gw", 1)
    if code == "county_mismatch":
        return f"dh/v1/533124/{GW}/data", batch_bytes(GW, 1)
    if code == "revoked":
        return "dh/v1/533103/revoked-gw/data", batch_bytes("revoked-gw", 1)
    if code == "device_not_owned":
        b = batch(GW, 1, room_series("longchuan-coop-01.room-1", now_ms() - 60_000))
        return TOPIC, encode(b)
    raise AssertionError(code)


@pytest.mark.parametrize(("code", "field", "raw"), BAD, ids=[b[0] for b in BAD])
async def test_bad_input_is_dead_lettered_and_good_data_beside_it_is_stored(
    env, code, field, raw
) -> None:
    ingest, db, ts, acks = env
    topic, payload = (TOPIC, raw) if raw is not None else bad_payload(code)
    await ingest.handle(topic, payload)
    await ingest.handle(TOPIC, batch_bytes(GW, 2, room="room-2"))  # the good batch right after
    await ingest.drained()
    (dl,) = await dead_letters(db)
    assert dl.code == code, dl.reason
    assert dl.field == field, dl.reason
    async with db.session() as s:
        assert dl.reason and await payload_of(s, dl) == payload
    assert ingest.metrics.rejects[code] == 1
    assert await ts.count("cold_room", f"{GW}.room-2") == 60


async def test_partial_batch_keeps_good_readings(env) -> None:
    ingest, db, ts, acks = env
    good = room_series(f"{GW}.room-1", now_ms() - 60_000)
    future = room_series(f"{GW}.room-2", now_ms() + 3_600_000)
    # a series straddling the skew limit: the first half is fine, the rest is future
    straddle = room_series(f"{GW}.room-3", now_ms(), n=20, base=5.0)
    straddle = straddle.model_copy(update={"dt": 60_000})
    await ingest.handle(TOPIC, encode(batch(GW, 3, good, future, straddle)))
    await ingest.drained()
    assert await ts.count("cold_room", f"{GW}.room-1") == 60
    assert await ts.count("cold_room", f"{GW}.room-2") == 0
    assert await ts.count("cold_room", f"{GW}.room-3") == 6  # now .. now+5 min
    (entry,) = acks.entries()
    assert entry.status == "partial"
    assert entry.stored == 240 + 6 * 4 and entry.rejected == 60 * 4 + 14 * 4
    assert {d.field for d in await dead_letters(db)} == {"series[1].t0", "series[2].t0"}


async def test_all_rejected_batch_is_acknowledged_as_rejected(env) -> None:
    ingest, db, ts, acks = env
    await ingest.handle(TOPIC, batch_bytes(GW, 4, t0=1_000))
    await ingest.drained()
    (entry,) = acks.entries()
    assert entry.status == "rejected" and entry.stored == 0 and entry.rejected == 240


async def test_birth_and_death_order_independent(env) -> None:
    ingest, db, ts, acks = env
    t = now_ms()
    birth_topic, death_topic = f"dh/v1/533103/{GW}/birth", f"dh/v1/533103/{GW}/death"
    await ingest.handle(
        birth_topic, encode(Birth(gw=GW, session=5, ts=t, versions={"dehong": "0.1"}))
    )
    await ingest.handle(death_topic, encode(Death(gw=GW, session=4)))  # stale: an older session
    async with db.session() as s:
        assert (await s.get(Gateway, GW)).online
    await ingest.handle(death_topic, encode(Death(gw=GW, session=5)))
    async with db.session() as s:
        assert not (await s.get(Gateway, GW)).online
    await ingest.handle(birth_topic, b"")  # a cleared retained message is ignored
    assert await dead_letters(db) == []


async def test_events_are_stored_once_and_acknowledged(env) -> None:
    ingest, db, ts, acks = env
    ev = EventMessage(
        gw=GW,
        id="ev-1",
        ts=now_ms(),
        type="alarm",
        device=f"{GW}.room-1",
        severity="critical",
        message="room 1 above 8 °C",
        attrs={"value": 9.1},
    )
    for _ in range(2):
        await ingest.handle(f"dh/v1/533103/{GW}/event", encode(ev))
    async with db.session() as s:
        rows = list((await s.execute(select(EventRecord))).scalars())
    assert len(rows) == 1 and rows[0].attrs == {"value": 9.1}
    assert [e.kind for e in acks.entries()] == ["event", "event"]


async def test_store_outage_holds_acks_until_it_is_back(env, monkeypatch) -> None:
    ingest, db, ts, acks = env
    real_write = ts.write
    calls = {"n": 0}

    async def flaky(points):
        calls["n"] += 1
        if calls["n"] <= 3:
            raise TimeSeriesError("down for the test", retryable=True)
        await real_write(points)

    monkeypatch.setattr(ts, "write", flaky)
    await ingest.handle(TOPIC, batch_bytes(GW, 5))
    await asyncio.sleep(0.3)
    assert acks.sent == []  # nothing acknowledged while the store refuses
    await asyncio.wait_for(ingest.drained(), 10)
    assert len(acks.entries()) == 1 and await ts.count("cold_room") == 60


async def test_queue_bound_sheds_without_acknowledging(env, monkeypatch) -> None:
    ingest, db, ts, acks = env
    ingest.max_queued_points = 100
    blocked = asyncio.Event()

    async def stuck(points):
        await blocked.wait()

    monkeypatch.setattr(ts, "write", stuck)
    await ingest.handle(TOPIC, batch_bytes(GW, 6))  # 60 points queued
    await ingest.handle(TOPIC, batch_bytes(GW, 7))  # would exceed: shed
    assert ingest.metrics.shed == 1
    blocked.set()
    await ingest.drained()
    assert [e.seq for e in acks.entries()] == [6]


async def test_writer_survives_a_failed_ack(env) -> None:
    """The broker gone while acknowledging: that group stays unacknowledged (the
    gateway resends it), and the writer carries on with the next one."""
    ingest, db, ts, acks = env
    real = ingest.publish
    calls = {"n": 0}

    async def flaky(topic: str, payload: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("not connected to the broker")
        await real(topic, payload)

    ingest.publish = flaky
    await ingest.handle(TOPIC, batch_bytes(GW, 1))
    await asyncio.wait_for(ingest.drained(), 10)
    await ingest.handle(TOPIC, batch_bytes(GW, 2, room="room-2"))
    await asyncio.wait_for(ingest.drained(), 10)
    assert [e.seq for e in acks.entries()] == [2]
    assert ingest.metrics.write_errors == 1
    await ingest.handle(TOPIC, batch_bytes(GW, 1))  # the resend: written again, acknowledged
    await asyncio.wait_for(ingest.drained(), 10)
    assert [e.seq for e in acks.entries()] == [2, 1]


async def _move_dead_letters(db: Database, away: bool) -> None:
    """A real relational failure for dead-letter writes: the table is not there."""
    from sqlalchemy import text

    old, new = (
        ("dead_letters", "dead_letters_away") if away else ("dead_letters_away", "dead_letters")
    )
    async with db.transaction() as s:
        await s.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


async def test_a_failed_dead_letter_write_does_not_kill_the_worker(env) -> None:
    """The relational store fails in dead.put: handle() does not raise (the receive
    loop, and so the worker, lives on), the refused batch is not acknowledged, good
    data beside it still flows, and the gateway's resend stores the letter once the
    store is back."""
    ingest, db, ts, acks = env
    ghost_topic, ghost = "dh/v1/533103/ghost-gw/data", batch_bytes("ghost-gw", 1)
    all_bad = batch_bytes(GW, 9, t0=1_000)  # every reading refused (1970)
    await _move_dead_letters(db, away=True)
    error = await ingest.handle(ghost_topic, ghost)
    assert error is not None and error.code == "internal"
    assert (await ingest.handle(TOPIC, all_bad)).code == "internal"
    assert (await ingest.handle("dh/v9/nonsense", b"{}")).code == "internal"
    assert ingest.metrics.dead_letter_errors == 3
    await ingest.handle(TOPIC, batch_bytes(GW, 2, room="room-2"))  # good data still flows
    await asyncio.wait_for(ingest.drained(), 10)
    assert [e.seq for e in acks.entries()] == [2]  # the refused ones are not acknowledged
    assert await ts.count("cold_room", f"{GW}.room-2") == 60

    await _move_dead_letters(db, away=False)
    await ingest.handle(ghost_topic, ghost)  # the gateways resend
    await ingest.handle(TOPIC, all_bad)
    await asyncio.wait_for(ingest.drained(), 10)
    assert sorted(d.code for d in await dead_letters(db)) == ["timestamp_old", "unregistered"]
    assert [(e.seq, e.status) for e in acks.entries()] == [(2, "stored"), (9, "rejected")]


async def test_a_hung_store_does_not_stop_intake(env, monkeypatch) -> None:
    """Every time-series write hangs (a hung InfluxDB): health and inspection messages
    are queued like data, so the receive loop keeps taking every gateway's messages;
    once the store answers, all of it is written and the event acknowledged."""
    from protocol.messages import Health

    ingest, db, ts, acks = env
    answer = asyncio.Event()
    real_write = ts.write

    async def hung(points):
        await answer.wait()
        await real_write(points)

    monkeypatch.setattr(ts, "write", hung)
    other = "longchuan-coop-01"
    t = now_ms()
    health = encode(Health(gw=GW, ts=t, uptime_s=12.0, buffer_depth=3, clock="trusted"))
    inspection = EventMessage(
        gw=GW,
        id="insp-1",
        ts=t,
        type="inspection",
        device=f"{GW}.cam-1",
        inspection={"program": "coffee", "counts": {"beans": 300}, "image_sha256": "0" * 64},
    )
    for topic, payload in (
        (f"dh/v1/533103/{GW}/health", health),
        (f"dh/v1/533103/{GW}/event", encode(inspection)),
        (f"dh/v1/533124/{other}/data", batch_bytes(other, 1)),
    ):
        assert await asyncio.wait_for(ingest.handle(topic, payload), 2) is None, topic
    assert acks.sent == []  # nothing is acknowledged before the store took it
    answer.set()
    await asyncio.wait_for(ingest.drained(), 10)
    assert sorted((e.kind, e.id) for e in acks.entries())[1] == ("event", "insp-1")
    assert sorted(e.kind for e in acks.entries()) == ["data", "event"]
    assert await ts.count("cold_room", f"{other}.room-1") == 60
    assert await ts.count("gateway_health", GW) == 1
    assert await ts.count("inspection", f"{GW}.cam-1") == 1
