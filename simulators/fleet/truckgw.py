"""A truck's gateway: the edge gateway (:class:`edge.gateway.Gateway`, its durable
buffer, batches, write-acks, birth/death) with a vehicle driver injected, as
``dehong sim gateway`` injects the simulated BLE air. Its MQTT link runs through
a :class:`~simulators.tcpproxy.TcpProxy` that goes dark in tunnels and
no-signal stretches, so readings pile up in the buffer and leave as batches
when the link is back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.config import GatewayConfig, parse_config
from edge.drivers.base import Driver, Sample, Sink
from edge.gateway import Gateway
from protocol.broker import BrokerUrl
from protocol.messages import AssetKind, InventoryItem
from simulators.fleet import metrics
from simulators.fleet.config import TruckGateway, Vehicle
from simulators.tcpproxy import TcpProxy


class VehicleDriver(Driver):
    """Hands the simulator's readings of one vehicle to the gateway's buffer."""

    name = "vehicle"

    def __init__(self, vehicle: Vehicle) -> None:
        self.vehicle = vehicle
        self._sink: Sink | None = None

    async def start(self, sink: Sink) -> None:
        self._sink = sink

    async def stop(self) -> None:
        self._sink = None

    def inventory(self) -> list[InventoryItem]:
        names = list(metrics.ALL_METRICS)
        if self.vehicle.reefer is None:
            names = [m for m in names if m not in (metrics.TEMP1, metrics.DOOR)]
        return [
            InventoryItem(
                device=self.vehicle.id, kind=AssetKind.VEHICLE, driver=self.name, metrics=names
            )
        ]

    def status(self) -> dict[str, str]:
        return {self.vehicle.id: "up" if self._sink is not None else "unknown"}

    def emit(self, ts_ms: int, values: dict[str, float | None]) -> bool:
        """One reading of the vehicle; False when the gateway is not running."""
        if self._sink is None:
            return False
        self._sink.put_sample(
            Sample(device=self.vehicle.id, ts_ms=ts_ms, values=values, kind=AssetKind.VEHICLE)
        )
        return True


def gateway_config(
    vehicle: Vehicle,
    spec: TruckGateway,
    broker: BrokerUrl,
    state_root: Path,
    *,
    batch_interval_s: float = 2.0,
    ack_timeout_s: float = 10.0,
) -> GatewayConfig:
    data: dict[str, Any] = {
        "gateway": {
            "id": spec.id,
            "county": vehicle.county,
            "site": vehicle.id,
            "state_dir": str(state_root / spec.id),
        },
        "mqtt": {
            "host": broker.host,
            "port": broker.port,
            "keepalive_s": 5,
            "timeout_s": 3,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 2.0,
        },
        "batch": {"interval_s": batch_interval_s, "ack_timeout_s": ack_timeout_s},
        "clock": {"trusted_when": "plausible"},
    }
    # per-gateway credentials (provisioning names the broker user after the gateway)
    username = spec.username or spec.id
    password = spec.secret()
    data["mqtt"]["username"] = username
    if password:
        data["mqtt"]["password"] = password
    return parse_config(data, f"gateway {spec.id}")


class TruckLink:
    """The truck's 4G link to the broker: a proxy the simulator darkens in gaps."""

    def __init__(self, broker: BrokerUrl) -> None:
        self.proxy = TcpProxy(broker.host, broker.port)
        self.up = True

    async def start(self) -> BrokerUrl:
        await self.proxy.start()
        return BrokerUrl("127.0.0.1", self.proxy.port)

    def set_up(self, up: bool) -> None:
        if up == self.up:
            return
        self.up = up
        self.proxy.set_black_hole(not up)
        if not up:
            self.proxy.cut()

    async def stop(self) -> None:
        self.proxy.set_black_hole(False)
        await self.proxy.stop()


def make_gateway(config: GatewayConfig, driver: VehicleDriver) -> Gateway:
    return Gateway(config, drivers=[driver])
