"""Issue 10, items 1-5: no taken reading lost and no stall at the edge.

Each test injects the failure a review found (a state file write failing mid-cut,
two threads on the state file, a writer task dying on a 65-metric device, events
and notices growing past the bound, an ack during thinning, a thinned resend,
a crash between the seq's fsync and the batch row) and checks what is left.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

import edge.buffer
from cloud.db import Database
from cloud.devices.storage import Gateway as CloudGateway
from cloud.ingest.pipeline import Ingest
from cloud.timeseries.sqlite import SqliteStore
from edge.buffer import Buffer, BufferFailed
from edge.config import ConfigError, GatewayConfig, parse_config
from edge.drivers.base import Driver, Sample, Sink
from edge.gateway import Gateway
from edge.state import StateStore
from edge.store import Store, Work
from protocol.codec import decode
from protocol.messages import DataBatch, EventMessage, EventType, InventoryItem, Severity
from protocol.quality import Quality
from tests.edge.test_buffer import T0, make_buffer, sample
from tests.edge.test_config import run_cli, sample_data
from tests.support.schema import migrate_async

ROOT = Path(__file__).resolve().parents[2]

Reading = tuple[str, int, str]  # device, ts_ms, metric


def readings_of(samples: list[Sample]) -> Counter[Reading]:
    return Counter(
        (s.device, s.ts_ms, m) for s in samples for m, v in s.values.items() if v is not None
    )


def on_disk(path: Path) -> tuple[Counter[Reading], list[int], list[int]]:
    """Every reading in the file (samples and batches), the sample row ids, the batch seqs.

    Read through a second connection, as ``dehong edge status`` does."""
    store = Store(path, readonly=True)
    out: Counter[Reading] = Counter()
    try:
        rows = store.samples(False) + store.samples(True)
        for row in rows:
            device, _kind, _site, _flags, values, _mf = orjson.loads(row.body)
            out.update((device, row.ts_ms, m) for m, v in values.items() if v is not None)
        batches = store.batches()
        for item in batches:
            batch = decode(DataBatch, store.payloads([item.id])[item.id])
            for series in batch.series:
                out.update((series.device, ts, m) for ts, m, _v, _f in series.readings())
    finally:
        store.close()
    return out, sorted(r.id for r in rows), sorted(b.seq for b in batches)


# --------------------------------------------------------------- item 1: state race


def test_take_seq_and_next_session_from_two_threads(tmp_path: Path) -> None:
    state = StateStore(tmp_path)
    errors: list[BaseException] = []

    def hammer(call: Callable[[], int]) -> None:
        try:
            for _ in range(300):
                call()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=hammer, args=(state.take_seq,)),
        threading.Thread(target=hammer, args=(state.next_session,)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, f"{len(errors)} thread(s) failed: {errors[0]!r}"
    again = StateStore(tmp_path)
    assert (again.next_seq, again.session) == (300, 300)
    assert [p.name for p in tmp_path.iterdir()] == ["gateway-state.json"]  # no temp left


CUT_STEPS = ("state-fsync", "state-rename", "state-dir-fsync", "batch-insert")


def arm(monkeypatch: pytest.MonkeyPatch, step: str, once: bool) -> Callable[[], None]:
    """Make ``step`` of the next cut fail (ENOSPC), once or until the returned function
    is called."""
    armed = [True]

    def fire() -> bool:
        if armed[0] and once:
            armed[0] = False
            return True
        return armed[0]

    if step in ("state-fsync", "state-dir-fsync"):
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            if stat.S_ISDIR(os.fstat(fd).st_mode) == (step == "state-dir-fsync") and fire():
                raise OSError(errno.ENOSPC, "No space left on device")
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
    elif step == "state-rename":
        real_replace = os.replace

        def replace(src: Any, dst: Any) -> None:
            if fire():
                raise OSError(errno.ENOSPC, "No space left on device")
            real_replace(src, dst)

        monkeypatch.setattr(os, "replace", replace)
    else:
        real_commit = Store.commit

        def commit(self: Store, work: Work, *args: Any, **kw: Any) -> None:
            if work.batches and fire():
                raise sqlite3.OperationalError("database or disk is full")
            real_commit(self, work, *args, **kw)

        monkeypatch.setattr(Store, "commit", commit)
    return lambda: armed.__setitem__(0, False)


async def flush(b: Buffer) -> None:
    """A flush that fails the test instead of hanging it."""
    await asyncio.wait_for(b.flush(), 10)


@pytest.mark.parametrize("once", [True, False], ids=["transient", "lasting"])
@pytest.mark.parametrize("step", CUT_STEPS)
async def test_a_failed_cut_leaves_every_taken_reading_in_the_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, once: bool
) -> None:
    monkeypatch.setattr(edge.buffer, "COMMIT_RETRY_S", 0.05)
    db = tmp_path / "buffer.db"
    b = make_buffer(tmp_path)
    taken: list[Sample] = []
    b.on_taken = taken.extend
    await b.open()
    disarm = lambda: None  # noqa: E731
    try:
        for i in range(10):  # taken in an earlier round
            b.put_sample(sample(i))
        await flush(b)
        rows_before = on_disk(db)[1]
        disarm = arm(monkeypatch, step, once)
        for i in range(10, 15):  # taken in the round whose cut fails
            b.put_sample(sample(i))
        b.cut()
        await flush(b)
        await asyncio.sleep(0.2)  # the writer retries (and fails again while armed)
        have, rows, seqs = on_disk(db)
        assert have == readings_of(taken), "a taken reading is missing or stored twice"
        assert len(taken) == 15
        if not once:  # still failing: every row as it was, plus the new ones
            assert rows[:10] == rows_before and len(rows) == 15 and seqs == []
        disarm()
        for i in range(15, 18):
            b.put_sample(sample(i))
        await flush(b)
        b.cut()
        await flush(b)
        have, rows, seqs = on_disk(db)
        assert have == readings_of(taken) and len(taken) == 18
        assert rows == [], "every taken sample is in a batch now"
        assert seqs == list(range(len(seqs))), f"seqs {seqs}: a gap"
    finally:
        disarm()
        await asyncio.wait_for(b.close(), 10)


# ------------------------------------------------------- item 2: the writer dying


def sixty_five_registers() -> list[dict[str, Any]]:
    return [{"metric": f"m{i}", "address": i} for i in range(65)]


def test_config_refuses_more_metrics_than_a_series_may_carry(tmp_path: Path) -> None:
    data = sample_data()
    data["modbus"]["hosts"][0]["devices"][1]["registers"] = sixty_five_registers()
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    (line,) = info.value.errors
    assert line.startswith("modbus.hosts[0].devices[1].registers: device 'room-1'"), line
    assert "65 metrics" in line and "64" in line
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert run_cli(["edge", "check-config", str(bad)]) == 2


def test_config_refuses_a_ble_decoder_with_no_room_for_rssi() -> None:
    data = sample_data()
    fields = [{"metric": f"f{i}", "offset": i, "type": "uint8"} for i in range(64)]
    data["ble"] = {"decoders": [{"name": "big", "company_id": 1, "fields": fields}]}
    with pytest.raises(ConfigError, match=r"ble\.decoders\[0\]\.fields: 64 fields and rssi"):
        parse_config(data)


def wide(i: int) -> Sample:
    return Sample(device="gw-1.wide", ts_ms=T0 + i, values={f"m{k}": 1.0 for k in range(65)})


async def test_a_dead_writer_fails_flush_and_close_instead_of_hanging(tmp_path: Path) -> None:
    b = make_buffer(tmp_path)
    await b.open()
    b.put_sample(wide(0))
    with pytest.raises(Exception) as info:
        await asyncio.wait_for(b.flush(), 5)
    assert not isinstance(info.value, TimeoutError), "flush() hung on a dead writer"
    assert "65" in str(info.value) or "64" in str(info.value)
    await asyncio.wait_for(b.close(), 5)
    assert not b.is_open


class WideDriver(Driver):
    """Hands over one sample with more metrics than the wire contract allows."""

    name = "wide"

    async def start(self, sink: Sink) -> None:
        sink.put_sample(wide(0))

    async def stop(self) -> None:
        return None

    def inventory(self) -> list[InventoryItem]:
        return []

    def status(self) -> dict[str, str]:
        return {}


def run_cli_run(tmp_path: Path) -> int:
    """``dehong edge run`` on the same state: the bad sample is in the file now, so the
    buffer fails again as it reloads it, and the command exits non-zero, saying why."""
    cfg = {
        "gateway": {"id": "gw-1", "county": "533103", "state_dir": str(tmp_path)},
        "mqtt": {"url": "mqtt://127.0.0.1:9", "reconnect_max_s": 1},
    }
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "dehong.cli", "edge", "run", "--config", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "65 metrics" in proc.stderr, proc.stderr[-2000:]
    return proc.returncode


def offline_config(tmp_path: Path) -> GatewayConfig:
    return parse_config(
        {
            "gateway": {"id": "gw-1", "county": "533103", "state_dir": str(tmp_path)},
            "mqtt": {"url": "mqtt://127.0.0.1:9", "reconnect_max_s": 1},
        }
    )


async def test_a_dead_writer_ends_the_gateway_with_an_error(tmp_path: Path) -> None:
    gw = Gateway(offline_config(tmp_path), drivers=[WideDriver()])
    task = asyncio.create_task(gw.run())
    done, _ = await asyncio.wait({task}, timeout=10)
    if not done:
        pytest.fail("the gateway ran on without its buffer's writer")
    with pytest.raises(BufferFailed, match="64"):
        task.result()
    assert run_cli_run(tmp_path) != 0


# ---------------------------------------------------------- item 3: events bounded


def store_bytes(path: Path) -> tuple[int, int]:
    """(batch payload bytes, event payload bytes) in the file."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        batches = db.execute("SELECT coalesce(sum(length(payload)), 0) FROM batches").fetchone()
        events = db.execute("SELECT coalesce(sum(length(payload)), 0) FROM events").fetchone()
    finally:
        db.close()
    return int(batches[0]), int(events[0])


async def store_batch(b: Buffer, k: int) -> None:
    for i in range(200):
        b.put_sample(sample(k * 200 + i, metrics=8))
    await b.flush()
    b.cut()
    await b.flush()


def device_event(i: int, kind: EventType = EventType.DEVICE_DOWN) -> EventMessage:
    return EventMessage(
        gw="gw-1", id=f"{kind.value}-{i}", ts=T0 + i, type=kind, device="gw-1.room-0",
        severity=Severity.WARNING, message="x" * 400,
    )  # fmt: skip


async def test_repeated_notices_are_coalesced_with_a_count(tmp_path: Path) -> None:
    b = make_buffer(tmp_path, config={"max_bytes": 64 * 1024, "thin_keep_every": 4})
    await b.open()
    try:
        for k in range(40):  # every round past the bound thins or drops
            await store_batch(b, k)
        assert b.counters.dropped_batches > 3 and b.counters.thinned_batches > 3
        await b.flush()  # the newest version of a notice is stored
        notices = [orjson.loads(e.payload) for e in b._events.values()]
        notices = [n for n in notices if n["type"] == "buffer"]
        by_action = Counter(n["attrs"]["action"] for n in notices)
        assert by_action == {"thin": 1, "drop": 1}, by_action
        drop = next(n for n in notices if n["attrs"]["action"] == "drop")
        assert drop["attrs"]["repeats"] > 1
        assert drop["attrs"]["dropped_total"] == b.counters.dropped
    finally:
        await b.close()


async def test_events_count_in_the_size_bound_and_alarms_are_kept(tmp_path: Path) -> None:
    b = make_buffer(tmp_path, config={"max_bytes": 64 * 1024})  # alarm cap: 16 KiB
    await b.open()
    try:
        for i in range(20):  # ~12 KiB of alarms
            b.put_event(device_event(i, EventType.ALARM))
        for i in range(400):  # ~200 KiB of device notices: three times the bound
            b.put_event(device_event(i))
        await b.flush()
        await b.flush()
        batches, events = store_bytes(tmp_path / "buffer.db")
        assert batches + events <= 64 * 1024
        assert all(f"alarm-{i}" in b._events for i in range(20)), "an alarm was dropped"
        assert b.counters.dropped_events > 0
        assert "device_down-399" in b._events  # the newest kept, the oldest dropped
    finally:
        await b.close()


async def test_alarms_past_their_cap_drop_the_oldest_and_say_so(tmp_path: Path) -> None:
    b = make_buffer(tmp_path, config={"max_bytes": 64 * 1024})  # alarm cap: 16 KiB
    await b.open()
    try:
        for i in range(100):  # ~60 KiB of alarms
            b.put_event(device_event(i, EventType.ALARM))
        await b.flush()
        await b.flush()
        alarms = [
            e for e in b._events.values() if b"alarm" in e.payload and b'"buffer"' not in e.payload
        ]
        assert sum(len(e.payload) for e in alarms) <= 16 * 1024
        assert "alarm-99" in b._events and "alarm-0" not in b._events
        notices = [orjson.loads(e.payload) for e in b._events.values() if b'"buffer"' in e.payload]
        assert any(n["attrs"]["action"] == "drop_alarms" for n in notices)
    finally:
        await b.close()


async def test_bytes_do_not_drift_when_an_ack_arrives_during_thinning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = make_buffer(tmp_path, config={"max_bytes": 64 * 1024, "thin_keep_every": 4})
    await b.open()
    loop = asyncio.get_running_loop()
    real = Store.payloads
    acked: list[str] = []

    def payloads_then_ack(self: Store, ids: list[str]) -> dict[str, bytes]:
        out = real(self, ids)
        if b.counters.thinned_batches == 0 and not acked and len(ids) == 1:
            # the write-ack of the batch being thinned arrives while the file is read
            acked.append(ids[0])
            done = threading.Event()
            loop.call_soon_threadsafe(lambda: (b.ack(ids), done.set()))
            done.wait(5)
        return out

    monkeypatch.setattr(Store, "payloads", payloads_then_ack)
    try:
        k = 0
        while b.counters.thinned_batches == 0:
            await store_batch(b, k)
            k += 1
        assert acked and acked[0] not in b
        await b.flush()
        await b.flush()
        batches, _events = store_bytes(tmp_path / "buffer.db")
        assert b.pending_bytes == sum(i.size for i in b._items.values()) == batches
    finally:
        await b.close()


# ------------------------------------------------------ item 4: thinned resends


async def test_a_thinned_batch_that_was_sent_gets_a_new_id_and_no_worse_flags(
    tmp_path: Path,
) -> None:
    b = make_buffer(tmp_path, config={"max_bytes": 64 * 1024, "thin_keep_every": 4})
    await b.open()
    try:
        await store_batch(b, 0)
        (first,) = await b.due()
        original = decode(DataBatch, first.payload)
        b.mark_sent(first)  # published; the cloud may have stored it, its ack may be lost
        await b.flush()
        await b.close()
        b = make_buffer(tmp_path, config={"max_bytes": 64 * 1024, "thin_keep_every": 4})
        await b.open()  # a restart in between: "sent" is remembered
        k = 1
        while not any(i.thinned and i.seq == original.seq for i in b._items.values()):
            assert k < 60 and any(i.seq == original.seq for i in b._items.values())
            await store_batch(b, k)
            k += 1
        item = next(i for i in b._items.values() if i.seq == original.seq)
        (loaded,) = await b._load([item])
        thin = decode(DataBatch, loaded.payload)
        good = {(s.device, ts, m): (v, f) for s in original.series for ts, m, v, f in s.readings()}
        for s in thin.series:
            for ts, m, v, f in s.readings():
                assert good[(s.device, ts, m)] == (v, f), "a resend would downgrade a stored point"
        assert item.id != original.id, "a thinned batch must not keep the id of the full one"
        # a batch never sent is thinned with the flag, also under a new id
        unsent = [i for i in b._items.values() if i.thinned and i.seq != original.seq]
        (other,) = await b._load(unsent[:1])
        flags = decode(DataBatch, other.payload).series[0].quality["m0"]
        assert all(f & Quality.THINNED for _, f in flags)
        # the late ack of the full batch removes its thinned copy
        assert [i.id for i in b.ack([original.id])] == [item.id]
    finally:
        await b.close()


async def test_a_thinned_resend_leaves_the_points_the_cloud_stored_as_they_were(
    tmp_path: Path,
) -> None:
    """The same story through the real ingest (embedded stores): the full batch is
    stored, its ack lost, the buffer fills and thins it, the thinned copy is resent."""
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    db = Database(url)
    async with db.transaction() as s:
        s.add(
            CloudGateway(id="gw-1", county="533103", name="gw-1", site="s", mqtt_password_hash="x")
        )
    ts = SqliteStore(tmp_path / "ts.db")
    await ts.open()
    acks: list[bytes] = []

    async def publish(topic: str, payload: bytes) -> None:
        acks.append(payload)  # the write-acks never reach the gateway

    ingest = Ingest(db, ts, publish, linger_s=0.01)
    writer = asyncio.create_task(ingest.run_writer())
    topic = "dh/v1/533103/gw-1/data"
    b = make_buffer(tmp_path, config={"max_bytes": 64 * 1024, "thin_keep_every": 4})
    await b.open()
    try:
        await store_batch(b, 0)
        (first,) = await b.due()
        await ingest.handle(topic, first.payload)
        b.mark_sent(first)
        await ingest.drained()
        k = 1
        while not any(i.thinned and i.seq == first.seq for i in b._items.values()):
            assert k < 60 and any(i.seq == first.seq for i in b._items.values())
            await store_batch(b, k)
            k += 1
        (thin,) = await b._load([i for i in b._items.values() if i.seq == first.seq])
        await ingest.handle(topic, thin.payload)
        await ingest.drained()
        rows = await ts.raw_rows("cold_room", "gw-1.room-0", T0, T0 + 200_000)
        assert len(rows) == 200
        downgraded = [t for t, fields in rows if any(f.endswith("__q") for f in fields)]
        assert not downgraded, f"{len(downgraded)} stored points now carry quality flags"
    finally:
        await b.close()
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await ts.close()
        await db.dispose()


async def test_a_batch_published_while_it_is_thinned_ends_up_without_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = make_buffer(tmp_path, config={"max_bytes": 64 * 1024, "thin_keep_every": 4})
    await b.open()
    loop = asyncio.get_running_loop()
    real = Store.replace_payload
    raced: list[str] = []

    def replace_then_publish(self: Store, batch_id: str, *args: Any) -> None:
        real(self, batch_id, *args)
        if not raced:
            raced.append(batch_id)
            done = threading.Event()
            # the session hands the full version out to be published, meanwhile
            item = next(i for i in b._items.values() if i.id == batch_id)
            loop.call_soon_threadsafe(lambda: (setattr(item, "published", True), done.set()))
            done.wait(5)

    monkeypatch.setattr(Store, "replace_payload", replace_then_publish)
    try:
        k = 0
        while not raced:
            await store_batch(b, k)
            k += 1
        item = next(i for i in b._items.values() if i.origin == raced[0])
        (loaded,) = await b._load([item])
        series = decode(DataBatch, loaded.payload).series[0]
        assert series.n == 50 and not series.quality, "flagged THINNED after it was published"
        await b.flush()
        batches, _ = store_bytes(tmp_path / "buffer.db")
        assert b.pending_bytes == batches
    finally:
        await b.close()


# ------------------------------------------------- item 5: crash between the writes


def crash_child(db: Path, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.edge.crash_child", str(db), mode],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


async def test_a_crash_between_the_seq_and_the_batch_row_leaves_no_gap(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    proc = await asyncio.to_thread(crash_child, db, "crash")
    assert proc.returncode == -9, proc.stderr
    assert StateStore(tmp_path).next_seq == 2  # seq 1 was fsynced, its batch never stored
    proc = await asyncio.to_thread(crash_child, db, "resume")
    assert proc.returncode == 0, proc.stderr
    have, rows, seqs = on_disk(db)
    assert rows == [] and seqs == [0, 1], f"seqs {seqs}: the cloud would see a gap forever"
    assert len(have) == 30 * 4 and set(have.values()) == {1}


def test_config_refuses_a_birth_too_large_for_one_message() -> None:
    data = sample_data()
    registers = [{"metric": f"metric_number_{i:02d}", "address": i} for i in range(64)]
    host = data["modbus"]["hosts"][0]
    host["devices"] = [{"id": f"room-{d}", "registers": registers} for d in range(200)]
    with pytest.raises(ConfigError, match=r"modbus\.hosts: the birth message would list 200"):
        parse_config(data)
    host["devices"] = host["devices"][:20]
    assert len(parse_config(data).modbus.hosts[0].devices) == 20


def test_a_buffer_file_from_before_the_sent_column_is_read_and_upgraded(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    old = sqlite3.connect(db)
    old.executescript(
        "CREATE TABLE batches (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, created_ms INTEGER "
        "NOT NULL, t_min INTEGER NOT NULL, readings INTEGER NOT NULL, thinned INTEGER NOT NULL "
        "DEFAULT 0, payload BLOB NOT NULL);"
        "INSERT INTO batches VALUES ('b-0000001', 7, 0, 0, 1, 0, x'00');"
    )
    old.close()
    readonly = Store(db, readonly=True)  # dehong edge status, before the gateway ran
    assert [(b.seq, b.sent) for b in readonly.batches()] == [(7, False)]
    readonly.close()
    store = Store(db)
    store.commit(Work(sent_batches=["b-0000001"]))
    assert [(b.seq, b.sent) for b in store.batches()] == [(7, True)]
    store.close()
