"""The chaos run: exact counts through gateway kills, a broker kill and a black-holed link.

Real parts: the cold-store simulator (Modbus TCP), the gateway as a child
process (``dehong edge run``), a private Mosquitto with our config and the
generated passwd/ACL, cloud ingest writing to a real InfluxDB, and a TCP proxy
between the gateway and the broker that the run can turn into a silent black
hole (no FIN) for longer than 1.5x the keepalive.

N, the readings taken into the gateway's buffer, is known exactly: the child
prints every sample after its group commit (``taken DEVICE TS READINGS``), and
after each kill -9 the run reads the buffer file itself and adds what it
holds (a sample committed in the instant before the kill, whose line was never
printed, is still in the file: nothing leaves it except through a write-ack).
Each sample also carries the simulator's counting register.

At the end the simulator stops, the gateway drains its buffer, and InfluxDB
must hold exactly N readings; ingest's duplicate counter shows the resends
that the idempotent writes absorbed.

``python -m bench.chaos gateway CONFIG`` is the child: the gateway with a
printing hook on the buffer. Run from the repository (uses tests/support for
the private Mosquitto).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

log = logging.getLogger(__name__)

COUNTY = "533103"
GATEWAY = "chaos-coop-01"
KEEPALIVE_S = 2


@dataclass
class ChaosResult:
    taken: dict[tuple[str, int], int] = field(default_factory=dict)
    gateway_kills: int = 0
    broker_kills: int = 0
    black_hole_s: float = 0.0
    influx_readings: int = 0
    duplicates: int = 0
    seconds: float = 0.0

    @property
    def n(self) -> int:
        return sum(self.taken.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_taken": self.n,
            "samples_taken": len(self.taken),
            "influx_readings": self.influx_readings,
            "exact": self.influx_readings == self.n,
            "ingest_duplicates": self.duplicates,
            "gateway_kills": self.gateway_kills,
            "broker_kills": self.broker_kills,
            "black_hole_s": self.black_hole_s,
            "seconds": round(self.seconds, 1),
        }


def room_registers(room: int) -> list[dict[str, Any]]:
    base = room * 16
    return [
        {"metric": "temperature", "address": base, "type": "int16", "scale": 0.1, "decimals": 1},
        {"metric": "humidity", "address": base + 1, "type": "uint16", "scale": 0.1, "decimals": 1},
        {"metric": "counter", "address": base + 3, "type": "uint32"},
        {"metric": "door", "address": base, "function": "coil"},
    ]


def gateway_yaml(path: Path, state_dir: Path, proxy_port: int, modbus_port: int, pw: str) -> None:
    data = {
        "gateway": {"id": GATEWAY, "county": COUNTY, "site": "chaos-site", "state_dir": str(state_dir)},
        "mqtt": {"host": "127.0.0.1", "port": proxy_port, "username": GATEWAY, "password": pw,
                 "keepalive_s": KEEPALIVE_S, "timeout_s": 2, "reconnect_min_s": 0.2,
                 "reconnect_max_s": 1.0},
        "batch": {"interval_s": 0.5, "ack_timeout_s": 3},
        "buffer": {"commit_interval_ms": 50},
        "modbus": {"hosts": [{"host": "127.0.0.1", "port": modbus_port, "timeout_s": 0.5,
                              "devices": [{"id": f"room-{i}", "poll_interval_s": 0.1,
                                           "registers": room_registers(i)} for i in range(2)]}]},
    }  # fmt: skip
    path.write_text(yaml.safe_dump(data))


# ------------------------------------------------------------------ the child


def child(config_path: str) -> None:
    """The gateway, printing every taken sample after its group commit."""
    from edge.config import load_config
    from edge.drivers.base import Sample
    from edge.gateway import Gateway

    logging.basicConfig(level=logging.WARNING)

    async def main() -> None:
        gateway = Gateway(load_config(config_path), config_path=Path(config_path))

        def taken(samples: list[Sample]) -> None:
            lines = [
                f"taken {s.device} {s.ts_ms} {sum(v is not None for v in s.values.values())}\n"
                for s in samples
            ]
            sys.stdout.write("".join(lines))
            sys.stdout.flush()

        gateway.buffer.on_taken = taken
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(gateway.stop()))
        await gateway.run()

    asyncio.run(main())


# ----------------------------------------------------------------- the parent


def buffer_contents(db: Path) -> dict[tuple[str, int], int]:
    """Every sample the buffer file holds (unbatched, held or in a batch): readings each."""
    from edge.store import Store
    from protocol.codec import decode
    from protocol.messages import DataBatch

    out: dict[tuple[str, int], int] = {}
    if not db.exists():
        return out
    store = Store(db, readonly=True)
    try:
        for held in (False, True):
            for row in store.samples(held):
                device, _k, _s, _f, values, _m = orjson.loads(row.body)
                out[(device, row.ts_ms)] = sum(v is not None for v in values.values())
        for item in store.batches():
            payload = store.payloads([item.id]).get(item.id)
            if payload is None:
                continue
            for series in decode(DataBatch, payload).series:
                ts = series.timestamps()
                for i, t in enumerate(ts):
                    out[(series.device, t)] = sum(
                        col[i] is not None for col in series.values.values()
                    )
    finally:
        store.close()
    return out


class GatewayProcess:
    def __init__(self, config: Path, result: ChaosResult, root: Path) -> None:
        self.config = config
        self.result = result
        self.root = root
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.chaos", "gateway", str(self.config),
            cwd=self.root, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 4 and parts[0] == b"taken":
                self.result.taken[(parts[1].decode(), int(parts[2]))] = int(parts[3])

    async def wait_taken(self, more: int, within_s: float) -> None:
        target = len(self.result.taken) + more
        deadline = time.monotonic() + within_s
        while len(self.result.taken) < target:
            if time.monotonic() > deadline:
                raise AssertionError(f"gateway took fewer than {more} samples in {within_s} s")
            await asyncio.sleep(0.05)

    async def _finish(self) -> None:
        assert self.proc is not None
        await self.proc.wait()
        if self._reader is not None:
            await self._reader

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self._finish()
        self.result.gateway_kills += 1

    async def kill_if_running(self) -> None:
        """Never leave the child behind, whatever ended the run."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self._finish()

    async def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self._finish(), 30)


async def influx_readings(tsdb: Any, devices: list[str]) -> int:
    from cloud.timeseries.lineprotocol import quote_ident, quote_string

    total = 0
    for device in devices:
        series = await tsdb.query(
            f"SELECT count(*) FROM {quote_ident('cold_room')} WHERE device = {quote_string(device)}"
        )
        for s in series:
            cols, rows = s.get("columns", []), s.get("values", [])
            for row in rows:
                total += sum(
                    int(v or 0)
                    for c, v in zip(cols, row, strict=False)
                    if c.startswith("count_") and not c.endswith("__q")
                )
    return total


async def run_chaos(
    root: Path,
    workdir: Path,
    influx_url: str,
    start_broker: Any,
    *,
    gateway_kills: int = 3,
    phase_samples: int = 30,
) -> ChaosResult:
    """The whole run; ``start_broker(dir)`` gives a started private Mosquitto with our config."""
    from cloud.db import Database
    from cloud.db.migrate import upgrade_async
    from cloud.ingest.worker import IngestWorker
    from cloud.provisioning.service import ensure_service_account, provision_gateway
    from cloud.settings import Settings
    from cloud.timeseries.influx import InfluxStore
    from protocol.broker import BrokerUrl
    from simulators.coldstore import ColdStoreSimulator, default_rooms
    from simulators.tcpproxy import TcpProxy

    result = ChaosResult()
    started = time.monotonic()
    broker = start_broker(workdir / "broker")
    database = f"chaos_{os.getpid()}_{int(time.time())}"
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'dehong.db'}", influx_url=influx_url,
        influx_db=database, mosquitto_dir=broker.dir, mosquitto_pid_file=broker.pid_file, demo=True,
    )  # fmt: skip
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(broker.stop)
        await upgrade_async(settings.database_url)
        db = Database(settings.database_url)
        stack.push_async_callback(db.dispose)
        tsdb = InfluxStore(influx_url, database=database)
        await tsdb.open()
        stack.push_async_callback(tsdb.close)

        async def drop() -> None:
            from cloud.timeseries.lineprotocol import quote_ident

            await tsdb.query(f"DROP DATABASE {quote_ident(database)}", db=None)

        stack.push_async_callback(drop)
        ingest_pw = await ensure_service_account(db, "ingest", "ingest", settings=settings)
        _gw, gw_pw = await provision_gateway(db, COUNTY, "chaos coop", "chaos-site", GATEWAY,
                                             settings=settings)  # fmt: skip
        broker.reload()
        worker = IngestWorker(db, tsdb, BrokerUrl(broker.host, broker.port, "ingest", ingest_pw),
                              use_shared=False)  # fmt: skip
        worker_task = asyncio.create_task(worker.run())
        stack.push_async_callback(_cancel, worker_task)
        await asyncio.wait_for(worker.connected.wait(), 15)
        sim = ColdStoreSimulator(default_rooms(2), seed=5, tick_s=0.1)
        await sim.start("127.0.0.1", 0)
        stack.push_async_callback(sim.stop)
        proxy = TcpProxy(broker.host, broker.port)
        await proxy.start()
        stack.push_async_callback(proxy.stop)
        state = workdir / "edge"
        config = workdir / "gateway.yaml"
        assert sim.port is not None
        gateway_yaml(config, state, proxy.port, sim.port, gw_pw)
        gw = GatewayProcess(config, result, root)
        stack.push_async_callback(gw.kill_if_running)

        async def kill_gateway() -> None:
            await gw.kill9()
            result.taken.update(buffer_contents(state / "buffer.db"))
            await gw.start()

        await gw.start()
        await gw.wait_taken(phase_samples, 30)
        for k in range(gateway_kills):
            await kill_gateway()
            await gw.wait_taken(phase_samples, 30)
            if k == 0:  # the broker dies hard and comes back
                broker.kill()
                result.broker_kills += 1
                await gw.wait_taken(phase_samples, 30)
                broker.start()
                worker_connected = worker.connected
                await asyncio.wait_for(worker_connected.wait(), 30)
                await gw.wait_taken(phase_samples, 30)
            if k == 1:  # the link becomes a silent black hole for > 1.5x keepalive
                proxy.set_black_hole(True)
                hole = KEEPALIVE_S * 1.5 + 2
                await asyncio.sleep(hole)
                result.black_hole_s = hole
                proxy.set_black_hole(False)
                await gw.wait_taken(phase_samples, 30)
        # the end: no new readings; the gateway drains its buffer, then stops cleanly
        await sim.stop()
        deadline = time.monotonic() + 90
        while True:
            left = await asyncio.to_thread(_pending, state / "buffer.db")
            if left == 0:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the gateway did not drain its buffer: {left} left")
            await asyncio.sleep(0.5)
        await gw.terminate()
        result.taken.update(buffer_contents(state / "buffer.db"))
        await worker.ingest.drained()
        devices = sorted({d for d, _ in result.taken})
        result.influx_readings = await influx_readings(tsdb, devices)
        result.duplicates = worker.ingest.metrics.duplicates
    result.seconds = time.monotonic() - started
    return result


def _pending(db: Path) -> int:
    from edge.store import Store

    store = Store(db, readonly=True)
    try:
        counts = store.counts()
    finally:
        store.close()
    return counts["samples"] + counts["held"] + counts["batches"]


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def run(gateway_kills: int = 5, phase_samples: int = 100) -> dict[str, Any]:
    """``dehong bench chaos``: the long form (needs InfluxDB and the mosquitto binary)."""
    import tempfile

    from tests.support.mosquitto import start_broker

    root = Path(__file__).resolve().parents[1]
    influx_url = os.environ.get("DEHONG_INFLUX_URL", "http://127.0.0.1:8086")
    with tempfile.TemporaryDirectory(prefix="dehong-chaos-") as tmp:
        result = asyncio.run(
            run_chaos(root, Path(tmp), influx_url, start_broker,
                      gateway_kills=gateway_kills, phase_samples=phase_samples)
        )  # fmt: skip
    return {"bench": "chaos", **result.as_dict(), "goal_met": result.influx_readings == result.n}


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "gateway":
        child(sys.argv[2])
    else:
        sys.stdout.write(orjson.dumps(run()).decode() + "\n")
