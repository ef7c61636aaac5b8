"""Modbus TCP driver: polls holding/input registers, coils and discrete inputs.

- Each TCP host has its own task, connection and schedule; its devices are read
  one after the other on that connection (a Modbus TCP gateway serializes anyway).
- The registers of a device are merged into as few requests as possible: one per
  run of adjacent addresses of the same function (gaps up to ``max_gap`` are
  bridged), at most 125 registers or 2000 bits per request.
- Values are decoded (two's complement for signed types, word order for 32-bit
  ones), scaled (``raw * scale + offset``) and rounded to ``decimals``.
- Timestamps are the poll schedule's ticks, aligned to multiples of the poll
  interval in wall time, so a 1 s poll gives a uniform ``dt`` of exactly 1000 ms
  on the wire (a compact batch) even though each read takes a few milliseconds.
- A failed read (timeout, refused connection, broken socket) marks the device
  down and emits ``device_down``; the next good read emits ``device_up``. The
  connection is re-opened on the next tick.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from edge.config import GatewayConfig, ModbusHost, RegisterSpec
from edge.drivers.base import Driver, Sample, Sink
from protocol.messages import EventMessage, EventType, InventoryItem, Severity

log = logging.getLogger(__name__)

MAX_REGISTERS_PER_REQUEST = 125
MAX_BITS_PER_REQUEST = 2000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# ------------------------------------------------------------------ read planning


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One Modbus request: ``count`` registers/bits of ``function`` from ``address``."""

    function: str
    address: int
    count: int
    specs: tuple[RegisterSpec, ...]


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
                blocks.append(ReadBlock(function, start, end - start, tuple(members)))
            start, end, members = spec.address, spec_end, [spec]
        if members:
            blocks.append(ReadBlock(function, start, end - start, tuple(members)))
    return blocks


# ---------------------------------------------------------------------- decoding


def decode_raw(spec: RegisterSpec, words: Sequence[int] | Sequence[bool]) -> float:
    """The raw number of one register spec from its words (or its one bit)."""
    kind = spec.value_type
    if kind == "bool":
        return 1.0 if words[0] else 0.0
    regs = [int(w) & 0xFFFF for w in words[: spec.width]]
    if kind == "uint16":
        return float(regs[0])
    if kind == "int16":
        return float(regs[0] - 0x10000 if regs[0] & 0x8000 else regs[0])
    if spec.word_order == "little":
        regs.reverse()
    data = struct.pack(">HH", regs[0], regs[1])
    fmt = {"int32": ">i", "uint32": ">I", "float32": ">f"}[kind]
    return float(struct.unpack(fmt, data)[0])


def scale_value(spec: RegisterSpec, raw: float) -> float | None:
    """``raw * scale + offset`` rounded to ``decimals``; None for NaN/inf (a sensor fault)."""
    value = raw * spec.scale + spec.offset
    if not math.isfinite(value):
        return None
    if spec.decimals is not None:
        value = round(value, spec.decimals)
    return float(value) + 0.0  # normalises -0.0 to 0.0


def decode_block(block: ReadBlock, data: Sequence[int] | Sequence[bool]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for spec in block.specs:
        at = spec.address - block.address
        out[spec.metric] = scale_value(spec, decode_raw(spec, data[at : at + spec.width]))
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
    from pymodbus.client import AsyncModbusTcpClient

    # reconnect_delay=0: no background reconnects; the poller reconnects on its own tick.
    return AsyncModbusTcpClient(
        host.host, port=host.port, timeout=host.timeout_s, retries=0, reconnect_delay=0
    )


class HostPoller:
    """The devices of one Modbus TCP host, on one connection and one schedule."""

    def __init__(
        self,
        config: GatewayConfig,
        host: ModbusHost,
        client_factory: ClientFactory = default_client,
    ) -> None:
        self.config = config
        self.host = host
        self.client_factory = client_factory
        self.client: Any = None
        self.plans = {dev.id: plan_reads(dev.registers, host.max_gap) for dev in host.devices}
        self.state: dict[str, str] = {config.device_id(dev.id): "unknown" for dev in host.devices}
        self.requests = 0
        self.failures = 0
        self._warned: set[tuple[str, int]] = set()

    @property
    def label(self) -> str:
        return f"{self.host.host}:{self.host.port}"

    async def _connected_client(self) -> Any:
        if self.client is None:
            self.client = self.client_factory(self.host)
        if not self.client.connected:
            ok = await self.client.connect()
            if not ok:
                raise ModbusReadError(f"cannot connect to Modbus host {self.label}")
        return self.client

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    async def _read(self, unit: int, block: ReadBlock) -> list[int] | list[bool]:
        from pymodbus.exceptions import ModbusException

        client = await self._connected_client()
        call = {
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
            "coil": client.read_coils,
            "discrete": client.read_discrete_inputs,
        }[block.function]
        self.requests += 1
        try:
            response = await asyncio.wait_for(
                call(block.address, count=block.count, device_id=unit),
                timeout=self.host.timeout_s * 2,
            )
        except (ModbusException, TimeoutError, OSError) as exc:
            self.close()  # a broken or stale connection is reopened on the next read
            raise ModbusReadError(f"{self.label} unit {unit}: {exc}") from None
        if response.isError():
            code = getattr(response, "exception_code", "?")
            raise _ExceptionResponse(
                f"Modbus exception {code} for {block.function} {block.address}+{block.count}"
            )
        if block.function in ("coil", "discrete"):
            return list(response.bits[: block.count])
        return list(response.registers)

    async def poll_device(self, index: int, ts_ms: int | None = None) -> Sample | None:
        """Read one device; None (and a device_down) when it cannot be read."""
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
            self.mark(sink, device, up=False, reason=str(exc))
            return None
        self.mark(sink, device, up=True)
        if sink is not None and sample is not None:
            sink.put_sample(sample)
        return sample

    async def run(self, sink: Sink) -> None:
        """Poll every device on its schedule until cancelled."""
        intervals = [round(dev.poll_interval_s * 1000) for dev in self.host.devices]
        now = now_ms()
        due = [(now // iv + 1) * iv for iv in intervals]
        try:
            while True:
                next_due = min(due)
                wait = (next_due - now_ms()) / 1000
                if wait > 0:
                    await asyncio.sleep(wait)
                for i, iv in enumerate(intervals):
                    if due[i] > next_due:
                        continue
                    late = now_ms() - due[i]
                    # the tick's own time while the read is on time; its real time when very late
                    ts = due[i] if late < iv / 2 else now_ms()
                    try:
                        await self.poll_and_deliver(i, sink, ts)
                    except Exception:
                        # a bug in decoding must not stop the other devices' polling
                        log.exception("modbus %s: polling device %d failed", self.label, i)
                    due[i] = (now_ms() // iv + 1) * iv
        finally:
            self.close()


class _ExceptionResponse(Exception):
    """The device answered with a Modbus exception (e.g. illegal address)."""


class ModbusDriver(Driver):
    """All Modbus TCP hosts of a gateway config, one polling task per host."""

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
            self._tasks.append(asyncio.create_task(poller.run(sink), name=f"modbus {poller.label}"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for poller in self.pollers:
            poller.close()

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
