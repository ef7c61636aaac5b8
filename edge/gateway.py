"""The gateway: drivers -> durable buffer -> MQTT session.

::

    gw = Gateway(load_config("gateway.yaml"))
    task = asyncio.create_task(gw.run())
    ...
    await gw.stop()        # or cancel the task: both shut down cleanly

Every sample a driver hands over goes into the durable buffer (see
:mod:`edge.buffer`): fsynced within ``buffer.commit_interval_ms``, batched every
``batch.interval_s`` (sooner when a batch nears the protocol limits), and kept
until a write-ack names it. Events are kept the same way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from edge.aio import wait_event
from edge.buffer import Buffer, BufferFailed
from edge.camera_triggers import CameraTriggers
from edge.clock import Clock
from edge.commands import Commands
from edge.config import GatewayConfig
from edge.counters import read_counters
from edge.drivers.base import Driver, Sample
from edge.health import CpuMeter, disk_free, rss_bytes, write_bytes
from edge.outbox import drain as drain_outbox
from edge.rules import RuleEngine
from edge.session import GatewayStats, Session
from edge.state import StateStore, write_atomic
from protocol.messages import EventMessage, Health, InventoryItem

if TYPE_CHECKING:
    from edge.drivers.ble import BackendFactory
    from edge.drivers.mcu import McuDriver
    from edge.ota_agent import OtaAgent

log = logging.getLogger(__name__)

#: On a clean stop, how long to wait for the write-ack of the last batch.
SHUTDOWN_ACK_GRACE_S = 5.0
#: Driver and device states, rewritten with every health message and at stop.
STATUS_FILE = "status.json"


def default_drivers(
    config: GatewayConfig, ble_backend: BackendFactory | None = None
) -> list[Driver]:
    """The drivers ``config`` asks for; ``ble_backend`` injects the BLE scanner backend
    (the simulated air of ``dehong sim gateway``), else the radio."""
    drivers: list[Driver] = []
    if config.modbus.hosts:
        from edge.drivers.modbus import ModbusDriver

        drivers.append(ModbusDriver(config))
    if config.ble.enabled:
        from edge.drivers.ble import BleDriver

        backend = ble_backend(config) if ble_backend is not None else None
        drivers.append(BleDriver(config, backend=backend))
    if config.mcu.buses:
        from edge.drivers.mcu import McuDriver

        drivers.append(McuDriver(config))
    if config.cameras:
        from edge.drivers.camera import camera_driver

        drivers.extend(camera_driver(config, spec) for spec in config.cameras)
    return drivers


class Gateway:
    """One field gateway. ``drivers`` defaults to those the config asks for."""

    def __init__(
        self,
        config: GatewayConfig,
        drivers: list[Driver] | None = None,
        config_path: Path | None = None,
        *,
        ble_backend: BackendFactory | None = None,
    ) -> None:
        self.config = config
        #: The YAML file a remote set-config replaces (atomically); None: memory only.
        self.config_path = config_path
        #: Injected BLE scanner backend (a simulator) for drivers built from the config.
        self.ble_backend = ble_backend
        self.drivers = drivers if drivers is not None else self._drivers(config)
        self.state = StateStore(config.gateway.state_dir)
        self.stats = GatewayStats()
        self.clock = Clock(config.clock.trusted_when)
        self.buffer = Buffer(
            config.buffer_path(),
            config.gateway.id,
            self.state,
            config.buffer,
            ack_timeout_s=config.batch.ack_timeout_s,
            clock=self.clock,
            hold_s=config.clock.hold_s,
        )
        #: The batches waiting for a write-ack (the buffer; named for older callers).
        self.pending = self.buffer
        self.batcher = self.buffer.batcher
        self.commands = Commands(self)
        self.session = Session(
            config, self.state, self.buffer, self.inventory, self.stats,
            commands=self.commands, health=self.health,
        )  # fmt: skip
        self.rules = RuleEngine(config, self.put_event, self.set_coil)
        self.camera_triggers = CameraTriggers(config)
        self._started: list[Driver] = []
        #: node updates from the cloud (``mcu.ota.cloud_url``; edge/ota_agent.py)
        self.ota_agent: OtaAgent | None = None
        self._ota_task: asyncio.Task[None] | None = None
        self._cpu = CpuMeter()
        self._began = time.monotonic()
        self._started_ms = int(time.time() * 1000)
        self._stop = asyncio.Event()
        self._done = asyncio.Event()
        self._running = False

    def _drivers(self, config: GatewayConfig) -> list[Driver]:
        return default_drivers(config, self.ble_backend)

    # ------------------------------------------------------------- for tests

    @property
    def id(self) -> str:
        return self.config.gateway.id

    @property
    def pending_count(self) -> int:
        return len(self.pending)

    @property
    def connected(self) -> bool:
        return self.session.connected.is_set()

    async def wait_connected(self, within_s: float = 10.0) -> None:
        if not await wait_event(self.session.connected, within_s):
            raise TimeoutError(f"gateway {self.id} did not connect within {within_s} s")

    def inventory(self) -> list[InventoryItem]:
        return [item for driver in self.drivers for item in driver.inventory()]

    def device_status(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for driver in self.drivers:
            out.update(driver.status())
        return out

    # ------------------------------------------------------------------ sink

    def put_sample(self, sample: Sample) -> None:
        """Hand a sample to the durable buffer (taken once its group commit returns)."""
        self.stats.samples += 1
        self.stats.readings += sum(1 for v in sample.values.values() if v is not None)
        self.buffer.put_sample(sample)
        self.rules.observe(sample)
        self.camera_triggers.observe(sample, self.drivers)

    async def set_coil(self, device: str, address: int, value: bool) -> None:
        """Write a coil of a configured Modbus device (local id): a local alarm relay."""
        from edge.drivers.modbus import ModbusDriver, ModbusReadError

        for driver in self.drivers:
            if isinstance(driver, ModbusDriver):
                try:
                    await driver.write_coil(device, address, value)
                except ModbusReadError as exc:
                    raise RuntimeError(str(exc)) from None
                return
        raise RuntimeError(f"no Modbus driver runs on gateway {self.id}: cannot write coils")

    def put_event(self, event: EventMessage) -> None:
        self.buffer.put_event(event)

    # ----------------------------------------------------------------- flow

    def cut_batch(self) -> None:
        """Cut what the buffer has taken into a batch (stored by the next commit)."""
        self.buffer.cut()

    async def _batch_timer(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.batch.interval_s
        deadline = loop.time()
        while True:
            deadline += interval
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            self.cut_batch()

    async def run(self) -> None:
        """Run until :meth:`stop` or cancellation; shuts down cleanly either way."""
        if self._running:
            raise RuntimeError(f"gateway {self.id} is already running")
        self._running = True
        self._stop.clear()
        self._done.clear()
        try:
            await self.buffer.open()
        except BaseException:
            self._running = False
            self._done.set()
            raise
        session_task = asyncio.create_task(self.session.run(), name=f"{self.id} mqtt")
        timer_task = asyncio.create_task(self._batch_timer(), name=f"{self.id} batches")
        self._started = []
        try:
            for driver in self.drivers:
                await driver.start(self)
                self._started.append(driver)
            log.info("gateway %s running: %d driver(s)", self.id, len(self.drivers))
            self._start_ota()
            stop_task = asyncio.create_task(self._stop.wait())
            # the buffer's writer stopping on a bug ends the gateway with its error (a
            # non-zero exit: systemd restarts it), never a gateway that runs on without it
            failed_task = asyncio.create_task(self.buffer.wait_failed())
            try:
                done, _ = await asyncio.wait(
                    {stop_task, session_task, failed_task}, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                stop_task.cancel()
                failed_task.cancel()
            if failed_task in done:
                failed_task.result()  # raises BufferFailed
            if session_task in done and not self._stop.is_set():
                session_task.result()  # raises what ended the session (e.g. a config error)
        finally:
            await self._shutdown(session_task, timer_task)

    def _mcu_driver(self) -> McuDriver | None:
        from edge.drivers.mcu import McuDriver

        for driver in self._started:
            if isinstance(driver, McuDriver):
                return driver
        return None

    def _start_ota(self) -> None:
        """The node-update loop, a task of its own, when the config names the cloud."""
        if self.config.mcu.ota.cloud_url is None:
            return
        from edge.ota_agent import OtaAgent

        if self.ota_agent is None:
            self.ota_agent = OtaAgent(self.config, self._mcu_driver)
        self._ota_task = asyncio.create_task(self.ota_agent.run(), name=f"{self.id} mcu ota")
        log.info("gateway %s: node updates from %s", self.id, self.config.mcu.ota.cloud_url)

    async def _shutdown(
        self, session_task: asyncio.Task[None], timer_task: asyncio.Task[None]
    ) -> None:
        ota, self._ota_task = self._ota_task, None
        if ota is not None:  # before the drivers: no update is left holding a bus
            ota.cancel()
            await asyncio.gather(ota, return_exceptions=True)
        started, self._started = self._started, []
        for driver in started:
            await driver.stop()
        timer_task.cancel()
        await asyncio.gather(timer_task, return_exceptions=True)
        if self.buffer.failed is None:
            self.cut_batch()
            try:
                await self.buffer.flush()
            except BufferFailed:
                pass  # logged by the buffer; run() raises it
        if self.connected and self.pending_count and self.buffer.failed is None:
            # Give the cloud a moment to acknowledge what was just sent; what stays
            # unacknowledged is kept in the buffer and sent after the next start.
            grace = min(self.config.batch.ack_timeout_s, SHUTDOWN_ACK_GRACE_S)
            if not await self.pending.wait_empty(grace):
                log.info("gateway %s: no write-ack within %.0f s of shutdown", self.id, grace)
        self.session.stop()
        if not session_task.done():
            grace = self.config.mqtt.timeout_s + 2
            done, _ = await asyncio.wait({session_task}, timeout=grace)
            if not done:
                log.warning("MQTT session did not close within %.0f s; cancelling it", grace)
                session_task.cancel()
                await asyncio.gather(session_task, return_exceptions=True)
        await self.buffer.close()
        self.write_status()
        if self.pending_count:
            log.info(
                "gateway %s stopped with %d unacknowledged batch(es) kept in %s",
                self.id,
                self.pending_count,
                self.buffer.path,
            )
        self._running = False
        self._done.set()

    # ------------------------------------------------------------ management

    async def restart_driver(self, name: str) -> None:
        """Stop and start one driver (a fresh instance from the running config)."""
        fresh = {d.name: d for d in self._drivers(self.config)}
        for i, driver in enumerate(self.drivers):
            if driver.name == name:
                await driver.stop()
                self._started = [d for d in self._started if d is not driver]
                new = fresh.get(name, driver)
                self.drivers[i] = new
                await new.start(self)
                self._started.append(new)
                log.info("gateway %s: driver %s restarted", self.id, name)
                return
        raise KeyError(f"no driver {name!r} on gateway {self.id}")

    async def _start_all(self, drivers: list[Driver]) -> None:
        started: list[Driver] = []
        try:
            for driver in drivers:
                await driver.start(self)
                started.append(driver)
        except BaseException:
            for driver in started:
                await driver.stop()
            raise
        self.drivers, self._started = drivers, list(drivers)

    async def apply_config(self, new: GatewayConfig) -> None:
        """Switch to ``new`` (drivers and rules) atomically: if a driver fails to start,
        the old config is restored and its drivers run again; raises CommandFailed.
        The drivers are rebuilt only when their sections (``modbus``, ``ble``) changed:
        new rules or profiles take effect without a gap in the readings."""
        from edge.commands import CommandFailed

        old = self.config
        if (new.modbus, new.ble) != (old.modbus, old.ble):
            for driver in self._started:
                await driver.stop()
            self._started = []
            try:
                await self._start_all(self._drivers(new))
            except (OSError, RuntimeError, ValueError) as exc:
                log.error("gateway %s: new config failed (%s); rolling back", self.id, exc)
                await self._start_all(self._drivers(old))
                raise CommandFailed(
                    "failed", f"a driver failed to start ({exc}); rolled back"
                ) from None
        self.config = new
        self.session.config = new
        self.rules = RuleEngine(new, self.put_event, self.set_coil)
        self.camera_triggers = CameraTriggers(new)
        if self.config_path is not None:
            import yaml

            data = new.model_dump(mode="json", exclude_none=True)
            write_atomic(self.config_path, yaml.safe_dump(data, sort_keys=False).encode())
        log.info("gateway %s: config %s applied", self.id, new.canonical_hash()[:12])

    def buffer_stats(self) -> dict[str, Any]:
        b = self.buffer
        return {
            "batches": len(b),
            "readings": b.pending_readings,
            "bytes": b.pending_bytes,
            "events": b.pending_events,
            "oldest_ms": b.oldest_ms(),
            "last_ack_ms": b.last_ack_ms,
            "clock": self.clock.state(),
            **asdict(b.counters),
            "totals_readings": asdict(b.totals),
        }

    async def pending_readings(self) -> int | None:
        """Readings in the buffer not yet acknowledged (batched or not), from the file."""
        try:
            counts = await asyncio.to_thread(read_counters, self.buffer.path)
        except (OSError, sqlite3.Error) as exc:
            log.warning("cannot count the pending readings in %s: %s", self.buffer.path, exc)
            return None
        return int(counts["pending"])

    async def health(self) -> Health:
        b = self.buffer
        if b.failed is None:
            # events of local programs (the self-updater's update and rollback notices)
            try:
                await drain_outbox(self.config.gateway.state_dir, self.id, self.put_event, b.flush)
            except BufferFailed:
                pass  # logged by the buffer; run() ends with it
        self.write_status()
        pending = await self.pending_readings()
        totals = b.totals
        return Health(
            gw=self.id,
            ts=self.clock.wall_ms(),
            uptime_s=round(time.monotonic() - self._began, 1),
            buffer_depth=b.pending_readings,
            buffer_oldest_ms=b.oldest_ms(),
            pending_batches=len(b),
            thinned=totals.thinned,
            dropped=totals.dropped,
            taken_readings=totals.taken,
            sent_readings=totals.sent,
            acked_readings=totals.acked,
            pending_readings=pending,
            rss_bytes=rss_bytes(),
            cpu_percent=self._cpu.percent(),
            disk_free_bytes=disk_free(self.config.gateway.state_dir),
            sd_write_bytes=write_bytes(),
            clock=self.clock.state(),
            drivers={d.name: "running" if d in self._started else "stopped" for d in self.drivers},
        )

    def write_status(self) -> None:
        """Driver and device states for ``dehong edge status`` (read while offline), and
        for the self-updater's health check (firmware_bridge/selfupdate/health.py): the
        process, the environment it runs from and whether the buffer's writer works."""
        failed = self.buffer.failed
        data = {
            "ts": self.clock.wall_ms(),
            "pid": os.getpid(),
            "prefix": os.path.realpath(sys.prefix),
            "started_ms": self._started_ms,
            "buffer": "ok" if failed is None else f"failed: {failed!r}"[:300],
            "connected": self.connected,
            "drivers": {
                d.name: "running" if d in self._started else "stopped" for d in self.drivers
            },
            "devices": self.device_status(),
            "rules_active": self.rules.active(),
        }
        try:
            write_atomic(self.config.gateway.state_dir / STATUS_FILE, orjson.dumps(data))
        except OSError as exc:
            log.warning("cannot write %s: %s", STATUS_FILE, exc)

    async def stop(self) -> None:
        """Stop and wait for the clean shutdown (flush, shutdown death, disconnect)."""
        if not self._running:
            return
        self._stop.set()
        await self._done.wait()
