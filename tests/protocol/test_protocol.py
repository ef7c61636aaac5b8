"""The wire contract: topics, schemas, codec errors, the timestamp window, wire cost."""

from __future__ import annotations

import orjson
import pytest

from bench.wire import naive_json, room_batch
from protocol.codec import ProtocolError, decode, encode
from protocol.framing import publish_packet_size
from protocol.ids import check_device_id, check_metric, device_id
from protocol.limits import DAY_MS, Limits
from protocol.messages import (
    Birth,
    CommandMessage,
    DataBatch,
    EventMessage,
    Series,
    WriteAck,
)
from protocol.topics import Channel, Topic, TopicError, shared, subscription
from protocol.window import check_batch

NOW = 1_800_000_000_000


def test_topic_round_trip() -> None:
    t = Topic.build("533103", "mangshi-coop-01", Channel.CMD_ACK)
    assert str(t) == "dh/v1/533103/mangshi-coop-01/cmd/ack"
    assert Topic.parse(str(t)) == t
    assert subscription(Channel.DATA) == "dh/v1/+/+/data"
    assert shared("ingest", subscription("data")) == "$share/ingest/dh/v1/+/+/data"


@pytest.mark.parametrize(
    ("topic", "needle"),
    [
        ("dh/v2/533103/gw-1/data", "version"),
        ("dh/v1/999999/gw-1/data", "county"),
        ("dh/v1/533103/GW_1/data", "gateway"),
        ("dh/v1/533103/gw-1/telemetry", "channel"),
        ("foo/bar", "expected"),
    ],
)
def test_bad_topics_name_the_part(topic: str, needle: str) -> None:
    with pytest.raises(TopicError, match=needle):
        Topic.parse(topic)


def test_ids() -> None:
    assert device_id("gw-1", "room-1") == "gw-1.room-1"
    assert check_device_id("C4:7C:8D:6A:11:02")
    with pytest.raises(ValueError, match="metric"):
        check_metric("temp__q")
    with pytest.raises(ValueError):
        check_device_id("bad device")


def test_series_timestamps_uniform_and_gaps() -> None:
    s = Series(device="g.d", t0=1000, n=3, dt=500, values={"x": [1.0, None, 3.0]})
    assert s.timestamps() == [1000, 1500, 2000]
    assert s.reading_count() == 2
    g = Series(device="g.d", t0=1000, n=3, dt=[10, 990], values={"x": [1.0, 2.0, 3.0]},
               quality={"*": [(0, 1)], "x": [(0, 4), (2, 2)]})  # fmt: skip
    assert g.timestamps() == [1000, 1010, 2000] and g.last_ts() == 2000
    assert list(g.readings()) == [(1000, "x", 1.0, 5), (1010, "x", 2.0, 0), (2000, "x", 3.0, 2)]


@pytest.mark.parametrize(
    ("mutate", "field", "needle"),
    [
        (
            lambda b: b["series"][0]["values"]["temperature"].pop(),
            "series[0].values.temperature",
            "n=60",
        ),
        (
            lambda b: b["series"][0]["values"].__setitem__("temperature", ["x"] * 60),
            "series[0].values.temperature[0]",
            "number",
        ),
        (
            lambda b: b["series"][0]["values"]["temperature"].__setitem__(0, True),
            "series[0].values.temperature[0]",
            "number",
        ),
        (lambda b: b.__setitem__("seq", -1), "seq", "greater than or equal"),
        (lambda b: b.__setitem__("id", "short"), "id", "pattern"),
        (lambda b: b.__setitem__("extra", 1), "extra", "not permitted"),
        (lambda b: b["series"][0].__setitem__("dt", [1000] * 3), "series[0].dt", "gaps"),
        (
            lambda b: b["series"][0].__setitem__("quality", {"nope": [[0, 1]]}),
            "series[0].quality.nope",
            "no such metric",
        ),
        (
            lambda b: b["series"][0].__setitem__("quality", {"*": [[0, 1024]]}),
            "series[0].quality.*",
            "unknown flag",
        ),
        (
            lambda b: b["series"][0].__setitem__("device", "a b"),
            "series[0].device",
            "invalid device id",
        ),
        (
            lambda b: b["series"][0].__setitem__("kind", "spaceship"),
            "series[0].kind",
            "Input should be",
        ),
    ],
)
def test_decode_errors_name_field_and_reason(mutate, field: str, needle: str) -> None:
    raw = orjson.loads(encode(room_batch(1)))
    mutate(raw)
    with pytest.raises(ProtocolError) as err:
        decode(DataBatch, orjson.dumps(raw))
    assert err.value.field == field
    assert needle in err.value.reason


def test_decode_envelope_errors() -> None:
    with pytest.raises(ProtocolError, match="not JSON") as e1:
        decode(DataBatch, b"{")
    assert e1.value.code == "not_json"
    with pytest.raises(ProtocolError) as e2:
        decode(DataBatch, b"[1]")
    assert e2.value.code == "invalid"
    with pytest.raises(ProtocolError) as e3:
        decode(DataBatch, orjson.dumps({"v": "1"}))
    assert (e3.value.code, e3.value.field) == ("schema_version", "v")
    with pytest.raises(ProtocolError) as e4:
        decode(DataBatch, b" " * 100, Limits(max_payload_bytes=50))
    assert e4.value.code == "too_large"


@pytest.mark.parametrize("version", [True, 1.0])
def test_schema_version_must_be_the_integer_one(version: object) -> None:
    """JSON ``true`` and ``1.0`` equal 1 in Python; neither is schema version 1 (a fuzzed
    ``"v": true`` was taken as version 1 and failed later, on another field)."""
    raw = orjson.loads(encode(room_batch(1)))
    raw["v"] = version
    with pytest.raises(ProtocolError) as err:
        decode(DataBatch, orjson.dumps(raw))
    assert (err.value.code, err.value.field) == ("schema_version", "v")


def test_batch_reading_limit() -> None:
    n = 6000
    s = Series(
        device="g.d",
        t0=NOW,
        n=n,
        values={"a": [1.0] * n, "b": [1.0] * n, "c": [1.0] * n, "d": [1.0] * n},
    )
    with pytest.raises(ValueError, match="at most 20000"):
        DataBatch(gw="gw-1", seq=0, id="abcdefgh", series=[s])


def test_round_trip_all_messages() -> None:
    msgs = [
        room_batch(3),
        Birth(gw="gw-1", session=3, ts=NOW, versions={"dehong": "0.1.0"}),
        EventMessage(gw="gw-1", id="e1", ts=NOW, type="device_down", device="gw-1.room-1"),
        CommandMessage(id="c1", name="ping", issued=NOW, expires=NOW + 60_000),
        WriteAck(gw="gw-1", ts=NOW, acks=[{"id": "abcdefgh", "seq": 1, "status": "stored"}]),
    ]
    for m in msgs:
        assert decode(type(m), encode(m)) == m
    with pytest.raises(ValueError, match="expires"):
        CommandMessage(id="c1", name="ping", issued=NOW, expires=NOW)
    with pytest.raises(ValueError, match="inspection"):
        EventMessage(gw="gw-1", id="e1", ts=NOW, type="inspection")


def test_window_refuses_future_and_old_but_not_honest_backlog() -> None:
    limits = Limits()

    def mk(t0: int, n: int = 10, dt: int = 1000) -> DataBatch:
        return DataBatch(gw="gw-1", seq=0, id="abcdefgh",
                         series=[Series(device="gw-1.r", t0=t0, n=n, dt=dt, values={"x": [1.0] * n})])  # fmt: skip

    assert check_batch(mk(NOW - 30 * DAY_MS), NOW, limits) == []  # a month of backlog is fine
    assert check_batch(mk(NOW + 60_000), NOW, limits) == []  # within skew
    (fut,) = check_batch(mk(NOW + limits.max_future_skew_ms + 1), NOW, limits)
    assert fut.code == "timestamp_future" and len(fut.indices) == 10 and "future" in fut.reason
    (old,) = check_batch(mk(0), NOW, limits)
    assert old.code == "timestamp_old" and "1970-01-01" in old.reason
    (part,) = check_batch(mk(NOW, n=10, dt=60_000), NOW, limits)
    assert part.indices == (6, 7, 8, 9)


def test_wire_cost_of_a_60s_cold_room_batch() -> None:
    """Goal: at most 12 bytes per reading, whole PUBLISH packet with its topic."""
    batch = room_batch(7)
    topic = "dh/v1/533103/mangshi-coop-01/data"
    payload = encode(batch)
    per_reading = publish_packet_size(topic, payload) / batch.reading_count()
    assert batch.reading_count() == 240
    assert per_reading <= 12.0, per_reading
    assert publish_packet_size(topic, naive_json(batch)) / 240 > 5 * per_reading


def test_publish_packet_size_matches_paho() -> None:
    """Cross-check the arithmetic with paho's own remaining-length encoder."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    topic = b"dh/v1/533103/g/data"
    for payload_len in (0, 100, 127, 16_000, 20_000, 300_000):
        remaining = 2 + len(topic) + 2 + payload_len
        header = bytearray(b"\x32")
        client._pack_remaining_length(header, remaining)
        assert len(header) + remaining == publish_packet_size(topic.decode(), bytes(payload_len))
