"""Run a fleet against real servers: phones over HTTP (OsmAnd), gateways over MQTT.

Each vehicle is one task that walks its :class:`~simulators.fleet.sim.TruckSim`
emissions and waits (``asyncio.sleep``, never a busy loop) until the simulated
clock reaches each one. The simulated start defaults to ``now - span`` (span:
the simulated time the run covers), so every timestamp sent lies in the past
and a receiver's "not in the future" check holds at any speed; ``realtime``
starts at now and runs at speed 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from protocol.broker import BrokerUrl
from simulators.fleet.clock import CatchUpClock, SimClock
from simulators.fleet.config import Fleet, Vehicle
from simulators.fleet.osmand import DEFAULT_BATCH_PATH, OsmAndPhone, PhoneStats
from simulators.fleet.sim import TruckSim, trip_end_offset_ms
from simulators.fleet.truckgw import TruckLink, VehicleDriver, gateway_config, make_gateway

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FleetOptions:
    osmand_url: str | None = None
    #: full URL of offline batches; None: the osmand URL's origin + batch_path
    batch_url: str | None = None
    batch_path: str = DEFAULT_BATCH_PATH
    mqtt: BrokerUrl | None = None
    speed: float = 60.0
    seed: int = 1
    #: simulated start, UTC epoch ms; None: now - span (or now with realtime)
    start_ms: int | None = None
    #: wall seconds to run; None: until the last truck has finished its trip
    duration_s: float | None = None
    realtime: bool = False
    failures: dict[str, float] = field(default_factory=dict)
    state_dir: Path = Path("var/fleet")
    #: truck gateways lose their MQTT link in tunnels and no-signal stretches
    link_gaps: bool = True
    gateway_batch_s: float = 2.0
    gateway_ack_timeout_s: float = 10.0
    #: once the replay reaches the present, go on live (speed 1) until ``duration_s``
    #: or cancelled, instead of ending (``CatchUpClock``; the demo's fleet)
    catch_up: bool = False


@dataclass(slots=True)
class FleetResult:
    start_ms: int
    end_ms: int
    speed: float
    phones: dict[str, PhoneStats] = field(default_factory=dict)
    gateway_readings: dict[str, int] = field(default_factory=dict)
    gateway_pending: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        return {
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "speed": self.speed,
            "phones": {k: asdict(v) for k, v in self.phones.items()},
            "gateway_samples": self.gateway_readings,
            "gateway_pending_batches": self.gateway_pending,
        }


def default_batch_url(osmand_url: str, batch_path: str) -> str:
    parts = urlsplit(osmand_url)
    return urlunsplit((parts.scheme, parts.netloc, batch_path, "", ""))


def plan_window(fleet: Fleet, opts: FleetOptions, now_ms: int | None = None) -> tuple[int, int]:
    """``(start_ms, end_ms)`` of the simulated time the run covers."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    now_ms -= now_ms % 1000  # whole seconds: the query form's timestamp is in seconds
    speed = 1.0 if opts.realtime else opts.speed
    span = max(trip_end_offset_ms(v, fleet, opts.seed) for v in fleet.vehicles)
    if opts.duration_s is not None:
        span = int(opts.duration_s * speed * 1000)
    elif opts.catch_up:
        span = 0  # the start is given, or the present; the end is decided below
    if opts.start_ms is not None:
        start = opts.start_ms
    elif opts.realtime:
        start = now_ms
    else:
        start = now_ms - span
    return start, start + span


def _sim_span_ms(clock: CatchUpClock, wall_s: float) -> int:
    """Simulated ms that ``wall_s`` wall seconds from the clock's start cover."""
    if wall_s <= clock.catch_up_s:
        return int(wall_s * 1000.0 * clock.speed)
    return clock.live_from_ms - clock.start_ms + int((wall_s - clock.catch_up_s) * 1000.0)


class _Truck:
    def __init__(self, vehicle: Vehicle, sim: TruckSim) -> None:
        self.vehicle = vehicle
        self.sim = sim
        self.phone: OsmAndPhone | None = None
        self.driver: VehicleDriver | None = None
        self.link: TruckLink | None = None
        self.samples = 0


async def run_fleet(fleet: Fleet, opts: FleetOptions) -> FleetResult:
    for vid in opts.failures:
        fleet.vehicle(vid)  # unknown vehicle: a clear error before anything starts
    start_ms, end_ms = plan_window(fleet, opts)
    speed = 1.0 if opts.realtime else opts.speed
    clock: SimClock
    if opts.catch_up:
        clock = CatchUpClock(start_ms, speed)
        # until the duration's wall seconds have passed (or until cancelled)
        end_ms = (
            2**62 if opts.duration_s is None else start_ms + _sim_span_ms(clock, opts.duration_s)
        )
    else:
        clock = SimClock(start_ms, speed)
    result = FleetResult(start_ms, end_ms, speed)
    trucks = [
        _Truck(v, TruckSim(v, fleet, opts.seed, start_ms, opts.failures.get(v.id)))
        for v in fleet.vehicles
    ]
    needs_http = any(v.phone for v in fleet.vehicles)
    if needs_http and not opts.osmand_url:
        raise ValueError("the fleet has phones: give --osmand-url")
    if any(v.gateway for v in fleet.vehicles) and opts.mqtt is None:
        raise ValueError("the fleet has truck gateways: give --mqtt")
    batch_url = opts.batch_url or (
        default_batch_url(opts.osmand_url, opts.batch_path) if opts.osmand_url else ""
    )
    gateways = []
    gw_tasks: list[asyncio.Task[None]] = []
    async with httpx.AsyncClient(timeout=5.0) as client:
        try:
            for truck in trucks:
                v = truck.vehicle
                if v.phone is not None:
                    assert opts.osmand_url is not None
                    truck.phone = OsmAndPhone(
                        v.phone.tracker_id,
                        v.phone.form,
                        opts.osmand_url,
                        batch_url,
                        client,
                        timestamp=v.phone.timestamp,
                    )
                if v.gateway is not None:
                    assert opts.mqtt is not None
                    broker = opts.mqtt
                    if opts.link_gaps:
                        truck.link = TruckLink(opts.mqtt)
                        broker = await truck.link.start()
                    config = gateway_config(
                        v,
                        v.gateway,
                        broker,
                        opts.state_dir,
                        batch_interval_s=opts.gateway_batch_s,
                        ack_timeout_s=opts.gateway_ack_timeout_s,
                    )
                    truck.driver = VehicleDriver(v)
                    gw = make_gateway(config, truck.driver)
                    gateways.append(gw)
                    gw_tasks.append(asyncio.create_task(gw.run(), name=f"fleet {v.gateway.id}"))
            await asyncio.gather(*(_drive(t, clock, end_ms) for t in trucks))
            for truck in trucks:
                if truck.phone is not None:
                    await truck.phone.flush()
                if truck.link is not None:
                    truck.link.set_up(True)
        finally:
            for gw in gateways:
                await gw.stop()
            for task in gw_tasks:
                if not task.done():
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for truck in trucks:
                if truck.link is not None:
                    await truck.link.stop()
    for truck in trucks:
        if truck.phone is not None:
            result.phones[truck.phone.device] = truck.phone.stats
        if truck.vehicle.gateway is not None:
            result.gateway_readings[truck.vehicle.gateway.id] = truck.samples
    for gw in gateways:
        result.gateway_pending[gw.id] = gw.pending_count
    return result


async def _drive(truck: _Truck, clock: SimClock, end_ms: int) -> None:
    for em in truck.sim.emissions():
        if em.t_ms > end_ms:
            return
        delay = clock.wall_delay_s(em.t_ms)
        await asyncio.sleep(delay)  # 0 yields to the loop when the run is behind
        if em.kind == "phone" and truck.phone is not None and em.report is not None:
            await truck.phone.report(em.report, em.online)
        elif em.kind == "gateway" and truck.driver is not None and em.values is not None:
            if truck.link is not None:
                truck.link.set_up(em.online)
            if truck.driver.emit(em.t_ms, em.values):
                truck.samples += 1
