"""Assemble the running system from its parts: used by ``dehong demo`` and by the
end-to-end tests, so that what the tests prove is what the demo runs.

- :func:`room_registers` / :func:`gateway_config`: a gateway polling cold rooms
  of the Modbus simulator (the register map is in simulators/README.md).
- :class:`CloudServices`: ingest worker + API server (uvicorn) in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.broker import BrokerUrl

log = logging.getLogger(__name__)

#: Simulator register map: room i occupies holding registers and coils from i * 16.
ROOM_STRIDE = 16


@dataclass(frozen=True, slots=True)
class CountySite:
    county: str
    gateway_id: str
    name: str
    site: str
    #: indices into simulators.coldstore.DEFAULT_ROOMS: what this site stores
    rooms: tuple[int, ...]


#: One cooperative per county in the demo, with the commodities it is known for.
DEMO_SITES: tuple[CountySite, ...] = (
    CountySite("533103", "mangshi-coop-01", "芒市咖啡合作社 Mangshi coffee cooperative", "mangshi-coffee", (2, 0)),
    CountySite("533124", "longchuan-coop-01", "陇川冷链仓 Longchuan cold store", "longchuan-store", (6, 1)),
    CountySite("533123", "yingjiang-coop-01", "盈江石斛合作社 Yingjiang dendrobium cooperative", "yingjiang-dendro", (5, 3)),
    CountySite("533122", "lianghe-coop-01", "梁河柠檬合作社 Lianghe lemon cooperative", "lianghe-lemon", (4, 1)),
)  # fmt: skip


#: The microcontroller nodes on each demo gateway's simulated RS-485 line: a door
#: contact and a compressor current clamp of its first room (local id, address, kind).
MCU_NODES: tuple[tuple[str, int, str], ...] = (("door-0", 1, "door"), ("clamp-0", 2, "compressor"))


def room_registers(room: int) -> list[dict[str, Any]]:
    base = room * ROOM_STRIDE
    return [
        {"metric": "temperature", "address": base, "type": "int16", "scale": 0.1, "unit": "°C", "decimals": 1},
        {"metric": "humidity", "address": base + 1, "type": "uint16", "scale": 0.1, "unit": "%RH", "decimals": 1},
        {"metric": "setpoint", "address": base + 2, "type": "int16", "scale": 0.1, "unit": "°C", "decimals": 1},
        {"metric": "door", "address": base, "function": "coil"},
        {"metric": "compressor", "address": base + 1, "function": "coil"},
    ]  # fmt: skip


def gateway_config(
    *,
    gateway_id: str,
    county: str,
    site: str,
    broker: BrokerUrl,
    password: str,
    modbus_port: int,
    rooms: int,
    state_dir: Path,
    poll_s: float = 1.0,
    batch_s: float = 60.0,
    ack_timeout_s: float = 30.0,
    keepalive_s: int = 30,
    mcu_serial: str | None = None,
) -> Any:
    """A gateway config (edge.config.GatewayConfig) polling ``rooms`` simulator rooms,
    and, with ``mcu_serial``, the MCU nodes of :data:`MCU_NODES` on that RS-485 line."""
    from edge.config import parse_config

    data = {
        "gateway": {"id": gateway_id, "county": county, "site": site, "state_dir": str(state_dir)},
        "mqtt": {
            "host": broker.host,
            "port": broker.port,
            "username": gateway_id,
            "password": password,
            "keepalive_s": keepalive_s,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 5.0,
        },
        "batch": {"interval_s": batch_s, "ack_timeout_s": ack_timeout_s},
        "modbus": {
            "hosts": [
                {
                    "host": "127.0.0.1",
                    "port": modbus_port,
                    "timeout_s": 1.0,
                    "devices": [
                        {
                            "id": f"room-{i}",
                            "poll_interval_s": poll_s,
                            "registers": room_registers(i),
                        }
                        for i in range(rooms)
                    ],
                }
            ]
        },
    }
    if mcu_serial is not None:
        from simulators.mcu.node import metrics_config

        data["mcu"] = {
            # 1 s as the Modbus poll above: the demo's simulated nodes answer from the
            # same process as the whole cloud, which a busy start-up can keep waiting
            # (a real node on RS-485 answers within milliseconds: edge/drivers/README.md)
            "buses": [{"id": "rs485", "serial": mcu_serial, "timeout_s": 1.0}],
            "nodes": [
                {"id": local, "node": node, "bus": "rs485", "poll_interval_s": poll_s,
                 "metrics": metrics_config(kind)}
                for local, node, kind in MCU_NODES
            ],
        }  # fmt: skip
    return parse_config(data, source=f"<{gateway_id}>")


@dataclass
class CloudServices:
    """Ingest and the API running as tasks of this event loop."""

    settings: Any  # cloud.settings.Settings
    db: Any  # cloud.db.Database
    tsdb: Any  # cloud.timeseries.TimeSeriesStore
    broker: BrokerUrl
    api_host: str = "127.0.0.1"
    api_port: int = 0
    worker: Any = None
    app: Any = None
    #: the OsmAnd port of phones, served beside the API on its intake (None: not
    #: served; 0: any free port); bound port in ``osmand_port`` once started
    osmand_port: int | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _server: Any = None
    _osmand: Any = None

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    async def start(self) -> None:
        import uvicorn

        from cloud.app import create_app
        from cloud.coldchain.service import build as build_coldchain
        from cloud.ingest.metrics import IngestCollector
        from cloud.ingest.worker import IngestWorker
        from cloud.logistics.positions.ingested import attach as attach_positions

        self.worker = IngestWorker(self.db, self.tsdb, self.broker, use_shared=False)
        # the cold chain's excursion engine and escalation on ingest's post-write hooks
        self.coldchain = build_coldchain(self.db, self.tsdb)
        self.coldchain.attach(self.worker.ingest.hooks)
        self.coldchain.start()
        # MQTT positions mark their windows by fix time, as phone fixes do
        attach_positions(self.worker.ingest.hooks, self.db)
        self._tasks.append(asyncio.create_task(self.worker.run(), name="ingest"))
        app = create_app(self.settings, db=self.db, tsdb=self.tsdb)
        self.app = app
        # its counters on the API's /metrics: one port for the demo
        app.state.metrics_registry.register(
            IngestCollector(self.worker.ingest.metrics, self.worker.client_id)
        )
        config = uvicorn.Config(
            app, host=self.api_host, port=self.api_port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._tasks.append(asyncio.create_task(self._server.serve(), name="api"))
        while not self._server.started:
            if self._tasks[-1].done():
                self._tasks[-1].result()  # raises what stopped the server
            await asyncio.sleep(0.05)
        if self.api_port == 0:
            sock = self._server.servers[0].sockets[0]
            self.api_port = int(sock.getsockname()[1])
        if self.osmand_port is not None:
            await self._start_osmand(app)
        await asyncio.wait_for(self.worker.connected.wait(), 15)

    async def _start_osmand(self, app: Any) -> None:
        """The OsmAnd port on the API's intake; a port taken leaves it out, with a
        notice (the API's ``/api/v1/logistics/osmand`` takes the same fixes)."""
        import uvicorn

        from cloud.logistics.positions.osmand import osmand_app

        config = uvicorn.Config(
            osmand_app(app.state.position_intake),
            host=self.api_host,
            port=self.osmand_port or 0,
            log_level="warning",
            lifespan="off",
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(), name="osmand")
        while not server.started:
            if task.done():
                break
            await asyncio.sleep(0.05)
        if not server.started:
            with contextlib.suppress(BaseException):
                task.result()
            print(
                f"OsmAnd port {self.osmand_port} not served (taken?); phones can use "
                f"{self.api_url}/api/v1/logistics/osmand",
                flush=True,
            )
            self.osmand_port = None
            return
        self._osmand = server
        self._tasks.append(task)
        self.osmand_port = int(server.servers[0].sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for server in (self._server, self._osmand):
            if server is not None:
                server.should_exit = True
        for task in reversed(self._tasks):
            if task.get_name() in ("api", "osmand"):
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), 5)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        coldchain = getattr(self, "coldchain", None)
        if coldchain is not None:
            await coldchain.stop()
            self.coldchain = None
