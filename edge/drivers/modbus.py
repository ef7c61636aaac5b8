"""Modbus driver (TCP and RTU): polls holding/input registers, coils and discrete inputs.

- Each link (a TCP host or an RTU serial bus) has its own task, connection and
  schedule; its devices are read one after the other on that link (a serial bus
  and a Modbus TCP gateway serialize anyway).
- Dead-slave budget: per cycle, a device that does not answer costs its own
  link at most one ``timeout_s`` (its first request times out, its other
  requests that cycle are skipped). While it stays down it is tried again only
  after a jittered exponential backoff (from its poll interval up to
  ``backoff_max_s``), so most cycles it costs nothing. Other links run in their
  own tasks on their own connections: it costs them nothing.
- The registers of a device are merged into as few requests as possible: one per
  run of adjacent addresses of the same function (gaps up to ``max_gap`` are
  bridged), at most 125 registers or 2000 bits per request.
- Values are decoded (two's complement for signed types, word order for 32-bit
  ones), scaled (``raw * scale + offset``) and rounded to ``decimals``.
- Timestamps are the poll schedule's ticks, aligned to multiples of the poll
  interval in wall time, so a 1 s poll gives a uniform ``dt`` of exactly 1000 ms
  on the wire (a compact batch) even though each read takes a few milliseconds.
- A poll that starts half an interval or more after its tick (a stalled event
  loop, a slow link) is still taken, stamped with its real time, and counted as
  late; the schedule keeps its cadence (the next tick is the one after, never
  "the next after now"), so a stall of a few intervals is caught up with late
  polls instead of skipped ticks. Only a link more than ``CATCH_UP_S`` (or two
  intervals) behind gives up the ticks in between, and counts them as missed.
  A device's timestamps always increase.
- A failed read (timeout, refused connection, broken socket) marks the device
  down and emits ``device_down``; the next good read emits ``device_up``. The
  connection is re-opened on the next tick.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import secrets
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from edge.aio import cancel_all
from edge.clock import now_ms
from edge.config import GatewayConfig, ModbusHost, RegisterSpec
from edge.drivers.base import Driver, Sample, Sink
from protocol.backoff import Backoff
from protocol.messages import EventMessage, EventType, InventoryItem, Severity

log = logging.getLogger(__name__)

MAX_REGISTERS_PER_REQUEST = 125
#: How long stop() waits for the pollers to finish after cancelling them, s.
STOP_GRACE_S = 2.0
#: Legacy names of the 32-bit byte orders.
WORD_ORDERS = {"big": "ABCD", "little": "CDAB"}
MAX_BITS_PER_REQUEST = 2000
#: A link further behind its schedule than this (or two poll intervals, whichever is
#: longer) skips the ticks in between (counted as missed) instead of catching up, s.
CATCH_UP_S = 5.0


# ------------------------------------------------------------------ read planning


@dataclass(frozen=True, slots=True)
class Field:
    """One register spec compiled for decoding: where it sits in its block and how to read it."""

    metric: str
    at: int  # offset in the block
    kind: str
    order: str  # ABCD..DCBA for 32-bit types
    scale: float
    offset: float
    decimals: int | None
    #: A 16-bit or bit value used as it is (no scale, offset or rounding): the fast path.
    plain: bool


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One Modbus request: ``count`` registers/bits of ``function`` from ``address``."""

    function: str
    address: int
    count: int
    specs: tuple[RegisterSpec, ...]
    fields: tuple[Field, ...] = ()


def compile_block(function: str, start: int, end: int, members: list[RegisterSpec]) -> ReadBlock:
    fields = tuple(
        Field(
            spec.metric,
            spec.address - start,
            spec.value_type,
            WORD_ORDERS.get(spec.word_order, spec.word_order),
            spec.scale,
            spec.offset,
            spec.decimals,
            plain=spec.width == 1 and (spec.scale, spec.offset, spec.decimals) == (1.0, 0.0, None),
        )
        for spec in members
    )
    return ReadBlock(function, start, end - start, tuple(members), fields)


def plan_reads(specs: Sequence[RegisterSpec], max_gap: int = 0) -> list[ReadBlock]:
    """Merge the registers of one device into as few requests as possible."""
    blocks: list[ReadBlock] = []
    by_function: dict[str, list[RegisterSpec]] = {}
    for spec in specs:
        by_function.setdefault(spec.function, []).append(spec)
    for function in ("holding", "input", "coil", "discrete"):
        group = sorted(by_function.get(function, ()), key=lambda s: s.address)
        limit = (
            MAX_BITS_PER_REQUEST if function in ("coil", "discrete") else MAX_REGISTERS_PER_REQUEST
        )
        start = end = -1  # current block covers [start, end)
        members: list[RegisterSpec] = []
        for spec in group:
            spec_end = spec.address + spec.width
            if members and spec.address <= end + max_gap and max(end, spec_end) - start <= limit:
                end = max(end, spec_end)
                members.append(spec)
                continue
            if members:
                blocks.append(compile_block(function, start, end, members))
            start, end, members = spec.address, spec_end, [spec]
        if members:
            blocks.append(compile_block(function, start, end, members))
    return blocks


# ---------------------------------------------------------------------- decoding

_FMT32 = {"int32": ">i", "uint32": ">I", "float32": ">f"}


def raw_value(f: Field, data: Sequence[int] | Sequence[bool]) -> float:
    """The raw number of one field from the block's words (or bits)."""
    kind = f.kind
    if kind == "bool":
        return 1.0 if data[f.at] else 0.0
    word = int(data[f.at]) & 0xFFFF
    if kind == "uint16":
        return float(word)
    if kind == "int16":
        return float(word - 0x10000 if word & 0x8000 else word)
    return decode_pair(word, int(data[f.at + 1]), kind, f.order)


def decode_pair(first: int, second: int, kind: str, order: str) -> float:
    """A 32-bit ``kind`` (int32, uint32, float32) from two registers as they arrived,
    the value's bytes A B C D (A most significant) arriving in ``order`` (ABCD..DCBA)."""
    wire = struct.pack(">HH", first & 0xFFFF, second & 0xFFFF)  # bytes in the order they came
    value = bytes(wire[order.index(letter)] for letter in "ABCD")
    return float(struct.unpack(_FMT32[kind], value)[0])


def scale_value(spec: RegisterSpec | Field, raw: float) -> float | None:
    """``raw * scale + offset`` rounded to ``decimals``; None for NaN/inf (a sensor fault)."""
    value = raw * spec.scale + spec.offset
    if not math.isfinite(value):
        return None
    if spec.decimals is not None:
        value = round(value, spec.decimals)
    return float(value) + 0.0  # normalises -0.0 to 0.0


def decode_block(block: ReadBlock, data: Sequence[int] | Sequence[bool]) -> dict[str, float | None]:
    """Every metric of a block from the words (or bits) its request returned."""
    out: dict[str, float | None] = {}
    for f in block.fields:
        raw = raw_value(f, data)
        out[f.metric] = raw if f.plain else scale_value(f, raw)
    return out


# ----------------------------------------------------------------------- polling


class ModbusReadError(Exception):
    """A request got no usable answer: the device is treated as down."""


def _event(gw: str, kind: EventType, device: str, severity: Severity, message: str) -> EventMessage:
    return EventMessage(
        gw=gw,
        id=secrets.token_urlsafe(12),
        ts=now_ms(),
        type=kind,
        device=device,
        severity=severity,
        message=message[:500],
        attrs={"driver": "modbus"},
    )


ClientFactory = Callable[[ModbusHost], Any]


def default_client(host: ModbusHost) -> Any:
    """A pymodbus client for one link: RTU over ``serial`` or TCP to ``host``."""
    # retries=0: the poller owns the budget; reconnect_delay=0: no background
    # reconnects, the poller reconnects on its own tick.
    if host.serial is not None:
        from pymodbus.client import AsyncModbusSerialClient

        return AsyncModbusSerialClient(
            host.serial,
            baudrate=host.baudrate,
            parity=host.parity,
            stopbits=host.stopbits,
            bytesize=host.bytesize,
            timeout=host.timeout_s,
            retries=0,
            reconnect_delay=0,
        )
    from pymodbus.client import AsyncModbusTcpClient

    return AsyncModbusTcpClient(
        str(host.host), port=host.port, timeout=host.timeout_s, retries=0, reconnect_delay=0
    )


class HostPoller:
    """The devices of one Modbus link (TCP host or RTU bus), on one connection and schedule."""

    def __init__(
        self,
        config: GatewayConfig,
        host: ModbusHost,
        client_factory: ClientFactory = default_client,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.host = host
        self.client_factory = client_factory
        self.client: Any = None
        self.plans = {dev.id: plan_reads(dev.registers, host.max_gap) for dev in host.devices}
        self.state: dict[str, str] = {config.device_id(dev.id): "unknown" for dev in host.devices}
        self.backoff = [
            Backoff(dev.poll_interval_s, max(dev.poll_interval_s, host.backoff_max_s), rng)
            for dev in host.devices
        ]
        #: Monotonic time before which a device that is down is not tried again.
        self.retry_at = [0.0] * len(host.devices)
        self.requests = 0
        self.failures = 0
        self.skipped = 0  # polls skipped because the device is backing off
        #: Polls taken half an interval or more after their tick (stamped with their real time).
        self.late = 0
        #: Ticks given up because the link was more than the catch-up bound behind.
        self.missed = 0
        self._lock = asyncio.Lock()  # one request at a time on the link (polls and writes)
        self._warned: set[tuple[str, int]] = set()
        #: Set by stop(): the poll loop ends even if a library swallowed its cancellation
        #: (Python 3.11's asyncio.wait_for does when the answer arrives at the same time).
        self.stopped = False

    @property
    def label(self) -> str:
        return self.host.label

    async def _connected_client(self) -> Any:
        if self.client is None:
            self.client = self.client_factory(self.host)
        if not self.client.connected:
            ok = await self.client.connect()
            if not ok:
                raise ModbusReadError(f"cannot connect to Modbus link {self.label}")
        return self.client

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    async def _request(self, unit: int, what: str, call: Callable[[Any], Any]) -> Any:
        """One request on the link, bounded by ``timeout_s``; raises ModbusReadError."""
        from pymodbus.exceptions import ConnectionException, ModbusException

        async with self._lock:
            if self.stopped:
                raise asyncio.CancelledError(f"modbus link {self.label} is stopping")
            client = await self._connected_client()
            self.requests += 1
            try:
                # pymodbus's own timeout (timeout_s, retries=0) bounds the request
                response = await call(client)
            except (ConnectionException, OSError) as exc:
                self.close()  # a broken connection is reopened on the next request
                raise ModbusReadError(f"{self.label} unit {unit}: {exc}") from None
            except (ModbusException, TimeoutError) as exc:
                # no answer from this unit: the link itself is fine, keep it for the others
                raise ModbusReadError(
                    f"{self.label} unit {unit}: no answer to {what} within "
                    f"{self.host.timeout_s} s ({exc or 'timeout'})"
                ) from None
        if response.isError():
            code = getattr(response, "exception_code", "?")
            raise _ExceptionResponse(f"Modbus exception {code} for {what}")
        return response

    async def _read(self, unit: int, block: ReadBlock) -> list[int] | list[bool]:
        method = {
            "holding": "read_holding_registers",
            "input": "read_input_registers",
            "coil": "read_coils",
            "discrete": "read_discrete_inputs",
        }[block.function]
        response = await self._request(
            unit,
            f"{block.function} {block.address}+{block.count}",
            lambda c: getattr(c, method)(block.address, count=block.count, device_id=unit),
        )
        if block.function in ("coil", "discrete"):
            return list(response.bits[: block.count])
        return list(response.registers)

    async def write_coil(self, unit: int, address: int, value: bool) -> None:
        """Write one coil (e.g. a local alarm relay); raises ModbusReadError if it fails."""
        try:
            await self._request(
                unit,
                f"write coil {address}",
                lambda c: c.write_coil(address, value, device_id=unit),
            )
        except _ExceptionResponse as exc:
            raise ModbusReadError(
                f"{self.label} unit {unit}: {exc}; check the coil address"
            ) from None

    async def poll_device(self, index: int, ts_ms: int | None = None) -> Sample | None:
        """Read one device; raises ModbusReadError when it does not answer."""
        dev = self.host.devices[index]
        values: dict[str, float | None] = {}
        for block in self.plans[dev.id]:
            try:
                data = await self._read(dev.unit, block)
            except _ExceptionResponse as exc:
                # the device answered, the map is wrong: the metrics are missing, the device is up
                key = (dev.id, block.address)
                if key not in self._warned:
                    self._warned.add(key)
                    log.warning("%s device %s: %s; check the register map", self.label, dev.id, exc)
                values.update({spec.metric: None for spec in block.specs})
                continue
            values.update(decode_block(block, data))
        return Sample(
            device=self.config.device_id(dev.id),
            ts_ms=ts_ms if ts_ms is not None else now_ms(),
            values=values,
            kind=dev.kind,
            site=dev.site or self.config.gateway.site,
        )

    def mark(self, sink: Sink | None, device: str, up: bool, reason: str = "") -> None:
        before = self.state.get(device, "unknown")
        after = "up" if up else "down"
        if before == after:
            return
        self.state[device] = after
        log.log(
            logging.INFO if up else logging.WARNING,
            "modbus device %s is %s%s",
            device,
            after,
            f": {reason}" if reason else "",
        )
        if sink is not None:
            sink.put_event(
                _event(
                    self.config.gateway.id,
                    EventType.DEVICE_UP if up else EventType.DEVICE_DOWN,
                    device,
                    Severity.INFO if up else Severity.WARNING,
                    f"modbus {self.label}: {reason}" if reason else f"modbus {self.label}",
                )
            )

    async def poll_and_deliver(
        self, index: int, sink: Sink | None, ts_ms: int | None = None
    ) -> Sample | None:
        device = self.config.device_id(self.host.devices[index].id)
        try:
            sample = await self.poll_device(index, ts_ms)
        except ModbusReadError as exc:
            self.failures += 1
            self.retry_at[index] = time.monotonic() + self.backoff[index].next()
            self.mark(sink, device, up=False, reason=str(exc))
            return None
        self.backoff[index].reset()
        self.retry_at[index] = 0.0
        self.mark(sink, device, up=True)
        if sink is not None and sample is not None:
            sink.put_sample(sample)
        return sample

    async def run(self, sink: Sink) -> None:
        """Poll every device on its schedule until cancelled.

        Every tick is polled: on time it carries the tick's time, late (half an
        interval or more) it carries its real time; a device's timestamps increase.
        """
        intervals = [round(dev.poll_interval_s * 1000) for dev in self.host.devices]
        now = now_ms()
        due = [(now // iv + 1) * iv for iv in intervals]
        last_ts = [0] * len(intervals)
        try:
            while not self.stopped:
                next_due = min(due)
                wait = (next_due - now_ms()) / 1000
                if wait > 0:
                    await asyncio.sleep(wait)
                for i, iv in enumerate(intervals):
                    if due[i] > next_due:
                        continue
                    now = now_ms()
                    behind = now - due[i]
                    if behind > max(CATCH_UP_S * 1000, 2 * iv):
                        newest = now // iv * iv  # the latest tick: polled (late), the rest missed
                        self.missed += (newest - due[i]) // iv
                        due[i] = newest
                    if time.monotonic() < self.retry_at[i]:
                        self.skipped += 1  # down and backing off: costs the link nothing
                    else:
                        # the tick's own time while the read is on time; its real time when late
                        ts = due[i] if now - due[i] < iv / 2 and due[i] > last_ts[i] else now
                        if ts != due[i]:
                            self.late += 1
                        ts = last_ts[i] = max(ts, last_ts[i] + 1)
                        try:
                            await self.poll_and_deliver(i, sink, ts)
                        except Exception:
                            # a bug in decoding must not stop the other devices' polling
                            log.exception("modbus %s: polling device %d failed", self.label, i)
                    due[i] += iv  # the next tick, even if it is already past: taken late
        finally:
            self.close()


class _ExceptionResponse(Exception):
    """The device answered with a Modbus exception (e.g. illegal address)."""


class ModbusDriver(Driver):
    """All Modbus links (TCP hosts, RTU buses) of a gateway config, one polling task each."""

    name = "modbus"

    def __init__(
        self, config: GatewayConfig, client_factory: ClientFactory = default_client
    ) -> None:
        self.config = config
        self.pollers = [HostPoller(config, host, client_factory) for host in config.modbus.hosts]
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, sink: Sink) -> None:
        if self._tasks:
            raise RuntimeError("modbus driver already started")
        for poller in self.pollers:
            serial = poller.host.serial
            if serial is not None and not await asyncio.to_thread(os.path.exists, serial):
                raise RuntimeError(
                    f"modbus: serial device {serial} does not exist; check the USB adapter "
                    "and the path (ls /dev/serial/by-id/)"
                )
        for poller in self.pollers:
            poller.stopped = False
            self._tasks.append(asyncio.create_task(poller.run(sink), name=f"modbus {poller.label}"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for poller in self.pollers:
            poller.stopped = True
            poller.close()  # closing the link also fails a request pymodbus still waits on
        stuck = await cancel_all(tasks, STOP_GRACE_S)
        if stuck:
            # seen with pymodbus under load: a cancelled request that never returns
            log.warning(
                "modbus: %d poller(s) did not stop within %.0f s (%s); left behind",
                len(stuck),
                STOP_GRACE_S,
                ", ".join(t.get_name() for t in stuck),
            )

    async def write_coil(self, device: str, address: int, value: bool) -> None:
        """Write a coil of a configured device (local id), e.g. its alarm relay."""
        for poller in self.pollers:
            for dev in poller.host.devices:
                if dev.id == device:
                    await poller.write_coil(dev.unit, address, value)
                    return
        known = ", ".join(d.id for p in self.pollers for d in p.host.devices)
        raise KeyError(f"no Modbus device {device!r} in the config; known: {known}")

    async def poll_once(self, sink: Sink | None = None) -> list[Sample]:
        """Read every device once now (tests, diagnostics)."""
        out: list[Sample] = []
        for poller in self.pollers:
            for i in range(len(poller.host.devices)):
                sample = await poller.poll_and_deliver(i, sink)
                if sample is not None:
                    out.append(sample)
        return out

    @property
    def requests(self) -> int:
        return sum(p.requests for p in self.pollers)

    @property
    def polls_late(self) -> int:
        """Polls taken half an interval or more after their tick (real time stamped)."""
        return sum(p.late for p in self.pollers)

    @property
    def ticks_missed(self) -> int:
        """Ticks given up because a link was more than the catch-up bound behind."""
        return sum(p.missed for p in self.pollers)

    def inventory(self) -> list[InventoryItem]:
        items = []
        for host in self.config.modbus.hosts:
            for dev in host.devices:
                items.append(
                    InventoryItem(
                        device=self.config.device_id(dev.id),
                        kind=dev.kind,
                        driver=self.name,
                        site=dev.site or self.config.gateway.site,
                        metrics=[r.metric for r in dev.registers],
                    )
                )
        return items

    def status(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for poller in self.pollers:
            out.update(poller.state)
        return out
