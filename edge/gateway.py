"""The gateway: drivers -> batcher -> pending -> MQTT session.

::

    gw = Gateway(load_config("gateway.yaml"))
    task = asyncio.create_task(gw.run())
    ...
    await gw.stop()        # or cancel the task: both shut down cleanly

Readings are batched every ``batch.interval_s`` (sooner when a batch nears the
protocol limits), each batch is kept in the pending set until a write-ack names
it. The pending set is IN MEMORY in this issue (see :mod:`edge.pending`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

from edge.aio import wait_event
from edge.batcher import Batcher
from edge.config import GatewayConfig
from edge.drivers.base import Driver, Sample
from edge.pending import PendingBatch, PendingBatches
from edge.session import GatewayStats, Session
from edge.state import StateStore
from protocol.codec import encode
from protocol.limits import DEFAULT_LIMITS
from protocol.messages import EventMessage, EventType, InventoryItem, Severity

log = logging.getLogger(__name__)

#: On a clean stop, how long to wait for the write-ack of the last batch.
SHUTDOWN_ACK_GRACE_S = 5.0


def default_drivers(config: GatewayConfig) -> list[Driver]:
    drivers: list[Driver] = []
    if config.modbus.hosts:
        from edge.drivers.modbus import ModbusDriver

        drivers.append(ModbusDriver(config))
    return drivers


class Gateway:
    """One field gateway. ``drivers`` defaults to those the config asks for."""

    def __init__(self, config: GatewayConfig, drivers: list[Driver] | None = None) -> None:
        self.config = config
        self.drivers = drivers if drivers is not None else default_drivers(config)
        self.state = StateStore(config.gateway.state_dir)
        self.stats = GatewayStats()
        self.batcher = Batcher(config.gateway.id, self.state)
        self.pending = PendingBatches(
            ack_timeout_s=config.batch.ack_timeout_s,
            max_batches=config.batch.max_pending,
            on_drop=self._on_drop,
        )
        self.session = Session(config, self.state, self.pending, self.inventory, self.stats)
        self._stop = asyncio.Event()
        self._done = asyncio.Event()
        self._running = False

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
        self.stats.samples += 1
        self.stats.readings += sum(1 for v in sample.values.values() if v is not None)
        if self.batcher.add(sample):
            self.cut_batch()

    def put_event(self, event: EventMessage) -> None:
        self.session.publish_event(event)

    # ----------------------------------------------------------------- flow

    def cut_batch(self) -> None:
        """Turn what is buffered into a batch and hand it to the pending set."""
        batch = self.batcher.cut()
        if batch is None:
            return
        payload = encode(batch)
        if len(payload) > DEFAULT_LIMITS.max_payload_bytes:
            log.error(
                "batch %s is %d bytes, over the %d-byte limit: the cloud will refuse it; "
                "lower batch.interval_s or the number of devices per gateway",
                batch.id,
                len(payload),
                DEFAULT_LIMITS.max_payload_bytes,
            )
        self.stats.batches += 1
        self.pending.add(batch, payload)

    def _on_drop(self, item: PendingBatch) -> None:
        self.stats.dropped += 1
        self.put_event(
            EventMessage(
                gw=self.id,
                id=secrets.token_urlsafe(12),
                ts=time.time_ns() // 1_000_000,
                type=EventType.BUFFER,
                severity=Severity.CRITICAL,
                message=(
                    f"pending buffer full: dropped unacknowledged batch {item.id} "
                    f"(seq {item.seq}, {item.batch.reading_count()} readings)"
                ),
                attrs={"batch": item.id, "seq": item.seq, "dropped_total": self.stats.dropped},
            )
        )

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
        session_task = asyncio.create_task(self.session.run(), name=f"{self.id} mqtt")
        timer_task = asyncio.create_task(self._batch_timer(), name=f"{self.id} batches")
        started: list[Driver] = []
        try:
            for driver in self.drivers:
                await driver.start(self)
                started.append(driver)
            log.info("gateway %s running: %d driver(s)", self.id, len(self.drivers))
            stop_task = asyncio.create_task(self._stop.wait())
            try:
                done, _ = await asyncio.wait(
                    {stop_task, session_task}, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                stop_task.cancel()
            if session_task in done and not self._stop.is_set():
                session_task.result()  # raises what ended the session (e.g. a config error)
        finally:
            await self._shutdown(started, session_task, timer_task)

    async def _shutdown(
        self,
        started: list[Driver],
        session_task: asyncio.Task[None],
        timer_task: asyncio.Task[None],
    ) -> None:
        for driver in started:
            await driver.stop()
        timer_task.cancel()
        await asyncio.gather(timer_task, return_exceptions=True)
        self.cut_batch()
        if self.connected and self.pending_count:
            # Give the cloud a moment to acknowledge what was just sent: with the
            # in-memory pending set, what is unacknowledged at exit is lost.
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
        if self.pending_count:
            log.warning(
                "gateway %s stopped with %d unacknowledged batch(es); they are lost "
                "(in-memory pending set)",
                self.id,
                self.pending_count,
            )
        self._running = False
        self._done.set()

    async def stop(self) -> None:
        """Stop and wait for the clean shutdown (flush, shutdown death, disconnect)."""
        if not self._running:
            return
        self._stop.set()
        await self._done.wait()
