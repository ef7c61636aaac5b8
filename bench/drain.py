"""Backlog drain through a real broker and a real ingest, at the shipped token bucket.

``python -m bench.drain [OUTAGE_S] [RATE]`` runs it alone (RATE: readings/s; default
the shipped ``BufferConfig().drain_readings_per_s``).

- Servers this run starts for itself on free ports (:mod:`bench.servers`): a
  Mosquitto with our config and the passwd/ACL that provisioning generates, and an
  influxd with our config; the registry in a fresh SQLite file.
- The cloud: ``dehong cloud ingest`` in its own process (validate, write to
  InfluxDB, publish the write-ack), the gateway provisioned with its own broker
  account.
- The outage: ``outage_s`` of 100 devices x 10 metrics at 1 Hz (1,000 readings/s),
  with the ids, metrics and kind of the live devices below, taken into the
  gateway's own buffer file through :class:`edge.buffer.Buffer` (group commits,
  a batch cut every ``batch_s`` of outage as the gateway cuts them) before the
  gateway starts.
- The drain: ``dehong edge run`` on that state directory, its buffer config the
  shipped default (or RATE), live Modbus polling of the same 100 devices every
  second from the load peer of :mod:`bench.edge_load` going on. The drain time
  runs from the gateway's start (process start-up and connect included) until the
  last backlog batch is gone from its buffer file, i.e. write-acked by ingest and
  deleted; the file is read (read-only) every 0.2 s, which also times each live
  batch from its cut to its deletion.
- Checked: every backlog reading is counted in InfluxDB afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.edge_load import ROOT, start_peer, stop_process
from bench.servers import PrivateInflux, PrivateMosquitto, cpu_seconds, free_port

COUNTY = "533103"
HOSTS, UNITS, METRICS = 10, 10, 10  # 100 devices x 10 metrics at 1 Hz: 1,000 readings/s
BATCH_S = 10.0


def _io_write_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


async def fill(state: Path, gw: str, outage_s: int, kind: str) -> dict[str, Any]:
    """The outage's readings taken into the gateway's buffer file; its batches."""
    from edge.buffer import Buffer
    from edge.config import BufferConfig
    from edge.drivers.base import Sample
    from edge.state import StateStore

    buf = Buffer(state / "buffer.db", gw, StateStore(state), BufferConfig())
    await buf.open()
    t0 = (int(time.time()) - outage_s - 60) * 1000
    values = {f"r{k}": float(k) for k in range(METRICS)}
    devices = [f"{gw}.h{h}-u{u}" for h in range(HOSTS) for u in range(1, UNITS + 1)]
    started = time.perf_counter()
    for sec in range(outage_s):
        for device in devices:
            buf.put_sample(Sample(device=device, ts_ms=t0 + sec * 1000, values=values))
        if sec % BATCH_S == BATCH_S - 1:
            await buf.flush()
            buf.cut()
    await buf.flush()
    buf.cut()
    await buf.flush()
    out = {
        "ids": set(buf.ids()),
        "readings": buf.pending_readings,
        "bytes": buf.pending_bytes,
        "samples": outage_s * len(devices),
        "t0": t0,
        "fill_s": round(time.perf_counter() - started, 1),
    }
    await buf.close()
    return out


def gateway_yaml(path: Path, state: Path, gw: str, password: str, broker_port: int,
                 ports: list[int], rate: float | None) -> None:  # fmt: skip
    buffer: dict[str, Any] = {} if rate is None else {"drain_readings_per_s": rate}
    data = {
        "gateway": {"id": gw, "county": COUNTY, "site": "drain", "state_dir": str(state)},
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "username": gw, "password": password,
                 "keepalive_s": 30},
        "batch": {"interval_s": BATCH_S, "ack_timeout_s": 30},
        "buffer": buffer,
        "modbus": {"hosts": [
            {"host": "127.0.0.1", "port": port, "timeout_s": 1.0, "devices": [
                {"id": f"h{h}-u{u}", "unit": u, "poll_interval_s": 1.0,
                 "registers": [{"metric": f"r{k}", "address": k, "type": "uint16"}
                               for k in range(METRICS)]}
                for u in range(1, UNITS + 1)]}
            for h, port in enumerate(ports)]},
    }  # fmt: skip
    path.write_text(yaml.safe_dump(data))


class FileWatch:
    """Reads the gateway's buffer file (read-only) for which batches are still there."""

    def __init__(self, db: Path) -> None:
        from edge.store import Store

        self.store = Store(db, readonly=True)

    def ids(self) -> set[str]:
        return {row.id for row in self.store.batches()}

    def close(self) -> None:
        self.store.close()


async def _http_ok(url: str) -> bool:
    import httpx

    try:
        async with httpx.AsyncClient(timeout=2) as c:
            return (await c.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


async def measure(outage_s: int, rate: float | None = None) -> dict[str, Any]:
    from bench.fleet import provision
    from bench.ingest import spawn
    from cloud.db import Database
    from cloud.db.migrate import upgrade_async
    from cloud.timeseries.influx import InfluxStore
    from edge.config import BufferConfig, DeviceSpec

    shipped = BufferConfig().drain_readings_per_s
    bucket = shipped if rate is None else rate
    kind = str(DeviceSpec.model_fields["kind"].default.value)
    with tempfile.TemporaryDirectory(prefix="dehong-drain-") as tmp, contextlib.ExitStack() as stop:
        tmpd = Path(tmp)
        influx = PrivateInflux(tmpd / "influx")
        broker = PrivateMosquitto(tmpd / "broker")
        influx.start()
        stop.callback(influx.stop)
        broker.start()
        stop.callback(broker.stop)
        db_url = f"sqlite:///{tmpd / 'rel.db'}"
        await upgrade_async(db_url)
        db = Database(db_url)
        accounts, ingest = await provision(db, broker, 1, prefix="drain")
        await db.dispose()
        assert ingest is not None
        gw = accounts[0]
        metrics_port = free_port()
        env = {
            **os.environ,
            "DEHONG_DATABASE_URL": db_url,
            "DEHONG_INFLUX_URL": influx.url,
            "DEHONG_INFLUX_DB": "dehong",
            "DEHONG_MQTT_URL": f"mqtt://cloud-ingest:{ingest.password}@127.0.0.1:{broker.port}",
            "DEHONG_JWT_SECRET": secrets.token_urlsafe(48),
            "DEHONG_INGEST_METRICS_PORT": str(metrics_port),
        }
        worker = spawn(["cloud", "ingest"], env, tmpd / "ingest.log")
        stop.callback(lambda: (worker.terminate(), worker.wait(15)))
        deadline = time.monotonic() + 60
        while not await _http_ok(f"http://127.0.0.1:{metrics_port}/metrics"):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"ingest did not start: {(tmpd / 'ingest.log').read_text()}")
            await asyncio.sleep(0.2)

        state = tmpd / "edge"
        state.mkdir()
        backlog = await fill(state, gw.id, outage_s, kind)
        peer, ports = await start_peer(tmpd, HOSTS, UNITS, METRICS)
        gw_proc = None
        try:
            config = tmpd / "gateway.yaml"
            gateway_yaml(config, state, gw.id, gw.password, broker.port, ports, rate)
            watch = FileWatch(state / "buffer.db")
            started = time.monotonic()
            with (tmpd / "gateway.log").open("wb") as log:
                gw_proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "dehong.cli", "edge", "run", "--config", str(config),
                    cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
            io0, cpu0 = _io_write_bytes(gw_proc.pid), cpu_seconds(gw_proc.pid)
            live_seen: dict[str, float] = {}
            live_delays: list[float] = []
            left = set(backlog["ids"])
            limit = outage_s + 120  # at 1x real time plus start-up it would be done
            while left:
                await asyncio.sleep(0.2)
                if gw_proc.returncode is not None:
                    raise RuntimeError(
                        f"gateway exited: {(tmpd / 'gateway.log').read_text()[-2000:]}"
                    )
                now = time.monotonic()
                if now - started > limit:
                    raise RuntimeError(f"drain not done in {limit} s: {len(left)} batches left")
                present = await asyncio.to_thread(watch.ids)
                left &= present
                for batch_id in present - backlog["ids"]:
                    live_seen.setdefault(batch_id, now)
                for batch_id in [b for b in live_seen if b not in present]:
                    live_delays.append(now - live_seen.pop(batch_id))
            drain_s = time.monotonic() - started
            io = _io_write_bytes(gw_proc.pid) - io0
            cpu = cpu_seconds(gw_proc.pid) - cpu0
            watch.close()
        finally:
            await stop_process(gw_proc)
            await stop_process(peer)
        store = InfluxStore(influx.url, database="dehong", timeout_s=60)
        await store.open()
        t0, t1 = backlog["t0"], backlog["t0"] + outage_s * 1000
        rows = await store.query(
            f'SELECT count("r0") FROM "raw"."{kind}" WHERE time >= {t0}ms AND time < {t1}ms'
        )
        await store.close()
        stored = int(rows[0]["values"][0][1]) if rows else 0
    readings = backlog["readings"]
    return {
        "path": "gateway process -> private Mosquitto (our config, ACL) -> dehong cloud ingest "
        "-> private InfluxDB -> write-ack -> gateway deletes",
        "outage_s": outage_s,
        "live_readings_per_s": HOSTS * UNITS * METRICS,
        "token_bucket_readings_per_s": bucket,
        "shipped_default_readings_per_s": shipped,
        "max_inflight": BufferConfig().max_inflight,
        "backlog_readings": readings,
        "backlog_batches": len(backlog["ids"]),
        "backlog_payload_bytes_per_reading": round(backlog["bytes"] / readings, 2),
        "fill_s": backlog["fill_s"],
        "drain_s": round(drain_s, 1),
        "x_real_time": round(outage_s / drain_s, 1),
        "drain_readings_per_s": round(readings / drain_s),
        "link_kbit_per_s": round(backlog["bytes"] * 8 / drain_s / 1000, 1),
        "gateway_cpu_percent": round(100 * cpu / drain_s, 1),
        "gateway_bytes_written_per_reading": round(io / readings, 2),
        "live_batches_during_drain": len(live_delays),
        "live_max_cut_to_ack_s": round(max(live_delays), 1) if live_delays else None,
        "backlog_samples": backlog["samples"],
        "backlog_samples_in_influxdb": stored,
    }


if __name__ == "__main__":
    import json

    outage = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    rate_arg = float(sys.argv[2]) if len(sys.argv) > 2 else None
    sys.stdout.write(json.dumps(asyncio.run(measure(outage, rate_arg))) + "\n")
