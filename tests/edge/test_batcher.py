"""Batching: columnar series, dt encoding, missing values, seq persistence, wire size."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.batcher import Batcher
from edge.drivers.base import Sample
from edge.state import StateStore
from protocol.codec import decode, encode
from protocol.framing import publish_packet_size, remaining_length_size
from protocol.limits import Limits
from protocol.messages import DataBatch
from protocol.quality import Quality
from protocol.topics import Channel, Topic
from simulators.coldstore import ColdStoreSimulator, default_rooms

GW = "mangshi-coop-01"
T0 = 1_760_000_000_000


def sample(ts: int, device: str = f"{GW}.room-0", **values: float | None) -> Sample:
    return Sample(device=device, ts_ms=ts, values=dict(values), site="mangshi-coop-01")


def test_uniform_readings_become_one_columnar_series(tmp_path: Path) -> None:
    batcher = Batcher(GW, StateStore(tmp_path))
    for i, temperature in enumerate((4.3, 4.4, 4.5)):
        batcher.add(sample(T0 + i * 1000, temperature=temperature, door=0.0))
    batcher.add(sample(T0, device=f"{GW}.room-1", temperature=11.0))
    batch = batcher.cut()
    assert batch is not None and batcher.cut() is None
    room0, room1 = batch.series
    assert (room0.t0, room0.n, room0.dt) == (T0, 3, 1000)
    assert room0.values == {"temperature": [4.3, 4.4, 4.5], "door": [0.0, 0.0, 0.0]}
    assert room0.site == "mangshi-coop-01"
    assert (room1.n, room1.values) == (1, {"temperature": [11.0]})
    assert batch.reading_count() == 7
    assert decode(DataBatch, encode(batch)) == batch


def test_irregular_spacing_sends_the_gaps(tmp_path: Path) -> None:
    batcher = Batcher(GW, StateStore(tmp_path))
    for ts in (T0 + 2500, T0, T0 + 1000):  # out of order on purpose
        batcher.add(sample(ts, temperature=1.0))
    series = batcher.cut().series[0]  # type: ignore[union-attr]
    assert series.t0 == T0 and series.dt == [1000, 1500]
    assert series.timestamps() == [T0, T0 + 1000, T0 + 2500]


def test_missing_metrics_are_none(tmp_path: Path) -> None:
    batcher = Batcher(GW, StateStore(tmp_path))
    batcher.add(sample(T0, temperature=1.0, humidity=90.0))
    batcher.add(sample(T0 + 1000, temperature=1.1))  # humidity not read
    batcher.add(sample(T0 + 2000, temperature=None, humidity=91.0))  # temperature failed
    batcher.add(sample(T0 + 2000, temperature=1.2))  # same instant merges into one row
    series = batcher.cut().series[0]  # type: ignore[union-attr]
    assert series.values == {"temperature": [1.0, 1.1, 1.2], "humidity": [90.0, None, 91.0]}
    assert series.reading_count() == 5


def test_quality_flags_are_sparse(tmp_path: Path) -> None:
    batcher = Batcher(GW, StateStore(tmp_path))
    batcher.add(sample(T0, temperature=1.0))
    batcher.add(
        Sample(f"{GW}.room-0", T0 + 1000, {"temperature": 1.0}, flags=int(Quality.CLOCK_SUSPECT))
    )
    series = batcher.cut().series[0]  # type: ignore[union-attr]
    assert series.quality == {"temperature": [(1, int(Quality.CLOCK_SUSPECT))]}


def test_seq_and_session_survive_a_restart(tmp_path: Path) -> None:
    state = StateStore(tmp_path)
    batcher = Batcher(GW, state)
    seqs = []
    for i in range(3):
        batcher.add(sample(T0 + i, temperature=1.0))
        seqs.append(batcher.cut().seq)  # type: ignore[union-attr]
    assert seqs == [0, 1, 2]
    assert state.next_session() == 1
    again = StateStore(tmp_path)  # a restarted gateway
    assert (again.next_seq, again.session) == (3, 1)
    batcher = Batcher(GW, again)
    batcher.add(sample(T0, temperature=1.0))
    assert batcher.cut().seq == 3  # type: ignore[union-attr]
    assert again.next_session() == 2
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file


def test_corrupt_state_file_refuses_to_guess(tmp_path: Path) -> None:
    (tmp_path / "gateway-state.json").write_text("{not json")
    with pytest.raises(RuntimeError, match="unreadable"):
        StateStore(tmp_path)


def test_batch_ids_are_unique(tmp_path: Path) -> None:
    batcher = Batcher(GW, StateStore(tmp_path))
    ids = set()
    for i in range(50):
        batcher.add(sample(T0 + i, temperature=1.0))
        ids.add(batcher.cut().id)  # type: ignore[union-attr]
    assert len(ids) == 50 and all(len(i) == 16 for i in ids)


def test_add_asks_for_a_cut_near_the_limits(tmp_path: Path) -> None:
    batcher = Batcher(GW, StateStore(tmp_path), limits=Limits(max_readings_per_batch=100))
    asks = [batcher.add(sample(T0 + i * 1000, a=1.0, b=2.0)) for i in range(40)]
    assert asks.index(True) == 39  # 40 rows x 2 metrics = 80 = 0.8 x 100
    batch = batcher.cut()
    assert batch is not None and batch.series[0].n == 40


def test_mqtt_publish_packet_size() -> None:
    assert remaining_length_size(127) == 1 and remaining_length_size(128) == 2
    assert remaining_length_size(16_383) == 2 and remaining_length_size(16_384) == 3
    # QoS 1: 1 + len(remaining) + 2 + topic + 2 + payload
    assert publish_packet_size("a/b", b"x" * 10, qos=1) == 1 + 1 + 2 + 3 + 2 + 10
    assert publish_packet_size("a/b", b"x" * 10, qos=0) == 1 + 1 + 2 + 3 + 10
    assert publish_packet_size("t", b"x" * 200, qos=1) == 1 + 2 + 2 + 1 + 2 + 200


def test_a_minute_of_one_room_at_1hz_costs_at_most_12_bytes_per_reading(tmp_path: Path) -> None:
    sim = ColdStoreSimulator(default_rooms(1), seed=11)
    batcher = Batcher(GW, StateStore(tmp_path))
    for i in range(60):
        sim.step()
        state = sim.room_state(0)
        batcher.add(
            Sample(
                f"{GW}.room-0",
                T0 + i * 1000,
                {
                    "temperature": state.temperature,
                    "humidity": state.humidity,
                    "door": float(state.door_open),
                    "compressor": float(state.compressor_on),
                },
                site=GW,
            )
        )
    batch = batcher.cut()
    assert batch is not None and batch.reading_count() == 240
    topic = str(Topic.build("533103", GW, Channel.DATA))
    assert topic == "dh/v1/533103/mangshi-coop-01/data"
    size = publish_packet_size(topic, encode(batch), qos=1)
    per_reading = size / batch.reading_count()
    assert per_reading <= 12, f"{size} bytes for 240 readings = {per_reading:.2f} B/reading"
