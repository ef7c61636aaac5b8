"""Reading counters (taken, sent, acked, pending; unit: readings) in the buffer file, in
``dehong edge status`` (offline) and in the health message through the codec."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
import yaml

from dehong.cli import build_parser
from edge.buffer import Buffer
from edge.config import BufferConfig, load_config
from edge.counters import UNIT, read_counters
from edge.drivers.base import Sample
from edge.gateway import Gateway
from edge.state import StateStore
from protocol.codec import decode, encode
from protocol.messages import Health
from protocol.topics import Channel
from simulators.coldstore import ColdStoreSimulator
from tests.edge.conftest import (
    BROKER_HOST,
    BROKER_PORT,
    clear_retained,
    gw_topic,
    make_config,
    start_cloud,
    stop_cloud,
    wait_for,
)

T0 = (int(time.time()) // 60) * 60_000 - 600_000


def sample(i: int) -> Sample:
    """Four metrics, one of them unreadable on every third instant: 4 or 3 readings."""
    values: dict[str, float | None] = {f"m{k}": float(i + k) for k in range(4)}
    if i % 3 == 0:
        values["m3"] = None
    return Sample(device="gw-1.room-0", ts_ms=T0 + i * 1000, values=values)


def readings(n: int, first: int = 0) -> int:
    return sum(3 if i % 3 == 0 else 4 for i in range(first, first + n))


def make_buffer(path: Path) -> Buffer:
    return Buffer(path, "gw-1", StateStore(path.parent), BufferConfig())


async def fill(path: Path) -> tuple[int, int, int]:
    """10 samples batched, sent twice (once counted), acked; a second batch sent and not
    acked; 3 samples left unbatched. Returns (taken, sent, acked) in readings."""
    b = make_buffer(path)
    await b.open()
    for i in range(10):
        b.put_sample(sample(i))
    await b.flush()
    assert read_counters(path)["taken"] == readings(10)  # in the file with the commit
    b.cut()
    await b.flush()
    (first,) = await b.due()
    b.mark_sent(first)
    b.reset_sent()  # a reconnect: resent, not counted again
    (again,) = await b.due()
    b.mark_sent(again)
    b.ack([first.id])
    for i in range(10, 15):
        b.put_sample(sample(i))
    await b.flush()
    b.cut()
    await b.flush()
    (second,) = await b.due()
    b.mark_sent(second)
    for i in range(15, 18):
        b.put_sample(sample(i))  # taken, not batched
    await b.close()
    return readings(18), readings(15), readings(10)


def expected(taken: int, sent: int, acked: int) -> dict[str, object]:
    return {
        "unit": UNIT,
        "taken": taken,
        "sent": sent,
        "acked": acked,
        "thinned": 0,
        "dropped": 0,
        "pending": taken - acked,
    }


async def test_counters_persist_in_the_buffer_file_and_add_up(tmp_path: Path) -> None:
    path = tmp_path / "buffer.db"
    taken, sent, acked = await fill(path)
    c = read_counters(path)
    assert c == expected(taken, sent, acked)
    assert c["taken"] == c["acked"] + c["pending"] + c["thinned"] + c["dropped"]
    b = make_buffer(path)  # a restart carries on from the file
    await b.open()
    assert (b.totals.taken, b.totals.sent, b.totals.acked) == (taken, sent, acked)
    b.put_sample(sample(18))
    await b.flush()
    b.ack(b.ids())
    await b.close()
    c = read_counters(path)
    assert c["taken"] == taken + readings(1, 18) and c["acked"] == taken - readings(3, 15)
    assert c["pending"] == readings(4, 15)


async def test_edge_status_prints_the_counters_with_their_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "gateway": {"id": "gw-1", "county": "533103", "state_dir": str(state)},
                "mqtt": {"url": "mqtt://127.0.0.1:1883"},
            }
        )
    )
    taken, sent, acked = await fill(load_config(config).buffer_path())
    args = build_parser().parse_args(["edge", "status", "--config", str(config), "--json"])
    assert args.handler(args) == 0
    status = orjson.loads(capsys.readouterr().out)
    assert status["readings"] == expected(taken, sent, acked)
    assert status["readings"]["unit"] == "readings"
    args = build_parser().parse_args(["edge", "status", "--config", str(config)])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "readings (one value of one metric of one device at one instant)" in out
    assert (
        f"taken {taken}, sent {sent}, acked {acked}, thinned 0, dropped 0 since the buffer "
        f"was created; pending {taken - acked}"
    ) in out


def test_health_counters_through_the_codec_and_older_gateways() -> None:
    h = Health(
        gw="gw-1",
        ts=T0,
        taken_readings=1000,
        sent_readings=990,
        acked_readings=980,
        pending_readings=20,
    )
    back = decode(Health, encode(h))
    assert (back.taken_readings, back.sent_readings, back.acked_readings) == (1000, 990, 980)
    assert back.pending_readings == 20
    # an older gateway sends none of them: unknown (null), never a made-up zero
    old = decode(Health, orjson.dumps({"v": 1, "gw": "gw-1", "ts": T0, "buffer_depth": 5}))
    assert old.taken_readings is None and old.pending_readings is None
    with pytest.raises(Exception, match="taken_readings"):
        decode(Health, orjson.dumps({"v": 1, "gw": "gw-1", "ts": T0, "taken_readings": -1}))


@pytest.mark.mosquitto
@pytest.mark.timeout(60)
async def test_health_message_carries_the_counters_of_a_running_gateway(
    broker: tuple[str, int], ticking_sim: ColdStoreSimulator, tmp_path: Path
) -> None:
    import aiomqtt

    config = make_config(tmp_path / "state", ticking_sim.port).model_copy(
        update={"health_interval_s": 1.0}
    )
    gw = Gateway(config)
    cloud, client, cloud_task = await start_cloud(gw.id)
    task = asyncio.create_task(gw.run())
    try:
        await gw.wait_connected(10)
        await wait_for(lambda: gw.buffer.totals.acked > 0, 10, "a write-ack")
        async with aiomqtt.Client(BROKER_HOST, BROKER_PORT) as listener:
            await listener.subscribe(gw_topic(gw.id, Channel.HEALTH), qos=0)
            async with asyncio.timeout(10):
                async for message in listener.messages:
                    health = decode(Health, bytes(message.payload))  # type: ignore[arg-type]
                    if health.acked_readings:
                        break
    finally:
        await gw.stop()
        await asyncio.gather(task, return_exceptions=True)
        await stop_cloud(client, cloud_task)
        await clear_retained(gw.id)
    assert health.taken_readings is not None and health.sent_readings is not None
    assert health.acked_readings is not None and health.pending_readings is not None
    assert health.taken_readings >= health.sent_readings >= health.acked_readings > 0
    assert health.taken_readings <= gw.buffer.totals.taken  # counted since, not made up
    # stopped: the file's counters add up, and acked is what the cloud acknowledged
    c = read_counters(config.buffer_path())
    assert c["taken"] == gw.buffer.totals.taken and c["sent"] == gw.buffer.totals.sent
    assert c["taken"] == c["acked"] + c["pending"] + c["thinned"] + c["dropped"]
    still_pending = set(gw.buffer.ids())
    acked_by_cloud = {b.id: b.reading_count() for b in cloud.batches if b.id in cloud.acked}
    assert c["acked"] == sum(n for i, n in acked_by_cloud.items() if i not in still_pending)
