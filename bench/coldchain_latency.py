"""Alarm latency (``dehong bench alarm-latency``; a figure of ``dehong bench logistics``):
from the publish, over real MQTT through ingest, of the batch that completes an
excursion, to the alarm raised and its webhook delivered to a local receiver.

Each trial has its own room (a device linked to a catalog location with a 2-8 °C
profile; the engine's minimum duration 120 s, 1-minute readings). A first batch puts
the room 1 minute above the range (not yet an excursion); once its write-ack is back,
the clock starts and the second batch, 2 more minutes above, is published: it makes
the excursion pass the minimum duration, so the engine raises the alarm and the
escalator's first step (at once) posts it to the webhook. The baseline, measured in
the same run, is the publish -> write-ack time of the same batches (ingest alone).

Servers: the Mosquitto on 127.0.0.1:1883 and, when reachable, the InfluxDB on
127.0.0.1:8086 (a fresh database, dropped after; else the embedded store); the
relational store is a migrated SQLite file. Goal: p99 < 5 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

GOAL_P99_S = 5.0
COUNTY = "533103"


def _pctl(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


class Sink:
    """A webhook receiver on a free loopback port: the monotonic arrival time of each
    alarm's first notification."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.requests = 0
        self.changed = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                at = time.monotonic()
                with sink.changed:
                    sink.requests += 1
                    alarm = body.get("data", {}).get("alarm_id")
                    if isinstance(alarm, int):
                        sink.arrived.setdefault(alarm, at)
                    sink.changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alarm"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, n: int, timeout: float) -> bool:
        """Block until ``n`` alarms have arrived (False after ``timeout``)."""
        with self.changed:
            return self.changed.wait_for(lambda: len(self.arrived) >= n, timeout)

    def __enter__(self) -> Sink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


async def measure(trials: int, *, broker: tuple[str, int] = ("127.0.0.1", 1883),
                  influx_url: str | None = None) -> dict[str, Any]:  # fmt: skip
    import logging

    import aiomqtt

    for quiet in ("httpx", "alembic"):
        logging.getLogger(quiet).setLevel(logging.WARNING)

    from cloud.catalog.storage import CommodityProfile, Location, LocationDevice
    from cloud.coldchain.escalation import ladder_steps
    from cloud.coldchain.service import build
    from cloud.db import Database, utcnow
    from cloud.db.migrate import upgrade_async
    from cloud.devices.storage import Gateway
    from cloud.ingest.worker import IngestWorker
    from cloud.notify import Channel, Notifier
    from cloud.timeseries import TimeSeriesStore
    from protocol.broker import BrokerUrl
    from protocol.codec import encode
    from protocol.messages import DataBatch, Series

    tmp = Path(tempfile.mkdtemp(prefix="dehong-alarm-latency-"))
    url = f"sqlite:///{tmp / 'db.sqlite'}"
    await upgrade_async(url)
    db = Database(url)
    tsdb: TimeSeriesStore
    influx_db = None
    if influx_url:
        from cloud.timeseries.influx import InfluxStore

        influx_db = f"bench_alarm_{secrets.token_hex(4)}"
        tsdb = InfluxStore(influx_url, database=influx_db)
    else:
        from cloud.timeseries.sqlite import SqliteStore

        tsdb = SqliteStore(tmp / "ts.db")
    await tsdb.open()
    gw = f"ccb-{secrets.token_hex(3)}"
    async with db.transaction() as s:
        s.add(Gateway(id=gw, county=COUNTY, name=gw, site="bench", mqtt_password_hash="x",
                      created_at=utcnow(), birth_session=0, death_session=0,
                      versions={}, config_hash="", inventory=[]))  # fmt: skip
        prof = CommodityProfile(county=COUNTY, name=f"bench {gw}", temp_min_c=2, temp_max_c=8,
                                single_excursion_max_s=1800, cumulative_excursion_max_s=3600,
                                categories=["fruit"], created_at=utcnow(), created_by="bench")  # fmt: skip
        s.add(prof)
        await s.flush()
        for i in range(trials):
            loc = Location(kind="cold_room", name=f"room {i}", county=COUNTY,
                           gln=f"{6920000000000 + i}", gln_extension=gw, profile_id=prof.id,
                           created_at=utcnow(), created_by="bench")  # fmt: skip
            s.add(loc)
            await s.flush()
            s.add(LocationDevice(location_id=loc.id, device_id=f"{gw}.room-{i}",
                                 since=utcnow(), created_by="bench"))  # fmt: skip

    raised: dict[int, float] = {}
    with Sink() as sink:
        notifier = Notifier(db, {"bench": Channel("bench", "webhook", url=sink.url)})
        cc = build(db, tsdb, notifier=notifier, ladder=ladder_steps([(0, "first", ["bench"])]),
                   env={})  # fmt: skip
        kick = cc.engine.on_raised

        def on_raised(alarm_id: int) -> None:
            raised[alarm_id] = time.monotonic()
            if kick is not None:
                kick(alarm_id)

        cc.engine.on_raised = on_raised
        worker = IngestWorker(db, tsdb, BrokerUrl(*broker), client_id=f"ingest-{gw}",
                              rollup_interval_s=0)  # fmt: skip
        cc.attach(worker.ingest.hooks)
        cc.start()
        run = asyncio.create_task(worker.run())
        latencies: list[float] = []
        to_raise: list[float] = []
        acks: list[float] = []
        try:
            await asyncio.wait_for(worker.connected.wait(), 15)
            async with aiomqtt.Client(*broker, identifier=f"pub-{gw}") as client:
                await client.subscribe(f"dh/v1/{COUNTY}/{gw}/ack", qos=1)
                acked: dict[str, float] = {}
                ack_event = asyncio.Event()

                async def listen() -> None:
                    async for m in client.messages:
                        body = json.loads(bytes(m.payload))  # type: ignore[arg-type]
                        for a in body.get("acks", []):
                            acked[a["id"]] = time.monotonic()
                        ack_event.set()

                listener = asyncio.create_task(listen())
                seq = 0
                t_base = (int(time.time() * 1000) - 30 * 60_000) // 60_000 * 60_000

                async def publish(dev: str, t0: int, temps: list[float]) -> tuple[str, float]:
                    nonlocal seq
                    seq += 1
                    bid = f"b{seq:06d}{secrets.token_hex(4)}"
                    batch = DataBatch(gw=gw, seq=seq, id=bid, sent=int(time.time() * 1000),
                                      series=[Series(device=dev, t0=t0, n=len(temps), dt=60_000,
                                                     values={"temp_c": temps})])  # fmt: skip
                    at = time.monotonic()
                    await client.publish(f"dh/v1/{COUNTY}/{gw}/data", encode(batch), qos=1)
                    return bid, at

                async def wait_ack(bid: str) -> float:
                    while bid not in acked:
                        ack_event.clear()
                        await asyncio.wait_for(ack_event.wait(), 30)
                    return acked[bid]

                for i in range(trials):
                    dev = f"{gw}.room-{i}"
                    bid, _ = await publish(dev, t_base, [5.0, 5.0, 11.0])
                    await wait_ack(bid)
                    await cc.engine.drained()
                    bid, at = await publish(dev, t_base + 3 * 60_000, [11.5, 12.0])
                    acks.append(await wait_ack(bid) - at)
                    if await asyncio.to_thread(sink.wait_for, i + 1, 30.0):
                        alarm = max(sink.arrived, key=lambda a: sink.arrived[a])
                        latencies.append(sink.arrived[alarm] - at)
                        if alarm in raised:
                            to_raise.append(raised[alarm] - at)
                listener.cancel()
        finally:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
            await cc.stop()
            if influx_db is not None:
                await tsdb.query(f'DROP DATABASE "{influx_db}"')  # type: ignore[attr-defined]
            await tsdb.close()
            await db.dispose()
            shutil.rmtree(tmp, ignore_errors=True)
    p99 = _pctl(latencies, 0.99)
    return {
        "bench": "alarm-latency",
        "trials": trials,
        "delivered": len(latencies),
        "webhook_p50_s": round(_pctl(latencies, 0.5) or 0, 4),
        "webhook_p99_s": round(p99, 4) if p99 is not None else None,
        "webhook_max_s": round(max(latencies), 4) if latencies else None,
        "raised_p99_s": round(_pctl(to_raise, 0.99) or 0, 4),
        "baseline_ack_p50_s": round(_pctl(acks, 0.5) or 0, 4),
        "baseline_ack_p99_s": round(_pctl(acks, 0.99) or 0, 4),
        "tsdb": "influxdb" if influx_url else "sqlite",
        "goal_p99_s": GOAL_P99_S,
        "goal_met": p99 is not None and len(latencies) == trials and p99 < GOAL_P99_S,
    }


def alarm_latency(short: bool = False) -> dict[str, Any]:
    """The figure as a dict (for ``dehong bench logistics`` to include)."""
    influx = os.environ.get("DEHONG_TEST_INFLUX_URL", "http://127.0.0.1:8086")
    host, _, port = influx.rsplit("/", 1)[-1].partition(":")
    url = influx if _reachable(host, int(port or 8086)) else None
    return asyncio.run(measure(20 if short else 100, influx_url=url))


def run(short: bool = False) -> dict[str, Any]:
    return alarm_latency(short)
