"""MCU driver: microcontroller sensor nodes speaking the firmware_bridge protocol.

- **RS-485** (``mcu.buses[].serial``, pyserial): the gateway is the only master. Each
  node is polled on its ``poll_interval_s`` with ``POLL``; the node must answer
  within ``timeout_s`` with its oldest queued frame (readings, event, boot report)
  or ``ACK`` when it has nothing. The next ``POLL`` carries ``ack_seq`` for the
  frame received, so one exchange is two frames; an unacknowledged frame is sent
  again (flag RETRY, same seq) and de-duplicated here by the per-node sequence
  window: at-least-once delivery, each reading once.
- **Dead-node budget** (the Modbus driver's dead-slave rule): per cycle, a node
  that does not answer costs its bus at most one ``timeout_s``; then it is down and
  tried again only after a jittered exponential backoff (poll interval up to
  ``backoff_max_s``). A damaged answer (bad CRC or COBS: line noise, the node is
  alive) is re-polled up to ``retries`` times; a node with more queued (flag MORE)
  gives at most ``max_frames_per_poll`` frames per poll, so none starves the rest.
- **UDP** (``mcu.buses[].udp_port``): nodes push frames signed with their own key
  (HMAC-SHA256/16 over each frame, keys from the encrypted key store written by
  ``dehong fw provision``). Unsigned, wrongly signed, unknown-node, replayed (seen
  sequence) and stale (signed time outside ``window_s``) frames are dropped and
  counted. A correctly signed but stale frame is answered with a signed TIME_SYNC
  (the node's clock is off); frames with ACK_REQ get a signed ACK, duplicates too.
- **Timestamps**: a reading's node-local age (node_ms - base_ms - offset_ms) is
  subtracted from the time the frame arrived; nodes need no wall clock. The
  arrival time is filtered: per node, the smallest (arrival - node_ms) seen maps
  the node's clock to ours (rising at most DRIFT_PPM, reset on a reboot or a jump),
  so a frame that waited on the line or for a retry is not stamped late.
- Values: ``raw * scale + offset`` rounded to ``decimals``; unknown channels are
  counted and ignored. Node events go out as ``driver`` events with the event's
  code in ``attrs``.

``McuDriver.handlers`` maps a message type to a handler ``(bus, node, frame,
message) -> None``: OTA adds its own entries. ``McuDriver.exchange(node_id, msg)``
sends one message to a node and returns its answer (RS-485: between polls, under
the bus lock).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.aio import cancel_all
from edge.clock import now_ms
from edge.config import GatewayConfig, McuBus, McuMetric, McuNode
from edge.drivers.base import Driver, Sample, Sink
from firmware_bridge.protocol import (
    ACK_REQ,
    FROM_NODE,
    GATEWAY,
    MORE,
    Ack,
    Event,
    EventCode,
    Frame,
    FrameDecoder,
    FrameError,
    Message,
    MessageError,
    MsgType,
    Poll,
    Readings,
    TimeSync,
    build,
    decode_frame,
    decode_message,
    verify_auth,
)
from firmware_bridge.protocol.dedup import Deduplicator, ReplayGuard
from protocol.backoff import Backoff
from protocol.messages import EventMessage, EventType, InventoryItem, Severity

log = logging.getLogger(__name__)

STOP_GRACE_S = 2.0
#: How fast a node's clock offset may rise without a reset (its crystal is slow), ppm.
DRIFT_PPM = 200.0
#: A change of the offset larger than this is a reboot or a wrap: start afresh, ms.
OFFSET_JUMP_MS = 2000.0
#: Frames that deliver data and are acknowledged (the node keeps them until then).
DATA_TYPES = frozenset({MsgType.READINGS, MsgType.EVENT, MsgType.BOOT_REPORT, MsgType.HELLO})


def scaled(metric: McuMetric, raw: float) -> float | None:
    value = float(raw) * metric.scale + metric.offset
    if not math.isfinite(value):
        return None
    if metric.decimals is not None:
        value = round(value, metric.decimals)
    return value + 0.0


def readings_to_samples(
    config: GatewayConfig,
    node: McuNode,
    msg: Readings,
    received_ms: int,
    unknown: Counter[str] | None = None,
) -> list[Sample]:
    """One Sample per distinct reading time; channels mapped by the node's config."""
    by_channel = {m.channel: m for m in node.metrics}
    by_time: dict[int, dict[str, float | None]] = {}
    for rd in msg.readings:
        metric = by_channel.get(rd.channel)
        if metric is None:
            if unknown is not None:
                unknown[f"{node.id}:{rd.channel}"] += 1
            continue
        ts = received_ms - msg.age_ms(rd)
        by_time.setdefault(ts, {})[metric.metric] = scaled(metric, rd.value)
    site = node.site or config.gateway.site
    return [
        Sample(config.device_id(node.id), ts, values, kind=node.kind, site=site)
        for ts, values in sorted(by_time.items())
    ]


def _event(gw: str, kind: EventType, device: str, severity: Severity, message: str, **attrs: Any):
    return EventMessage(
        gw=gw,
        id=secrets.token_urlsafe(12),
        ts=now_ms(),
        type=kind,
        device=device,
        severity=severity,
        message=message[:500],
        attrs={"driver": "mcu", **attrs},
    )


@dataclass
class NodeState:
    spec: McuNode
    backoff: Backoff
    state: str = "unknown"
    retry_at: float = 0.0
    #: Seq of the node's last data frame, acknowledged in the next POLL.
    pending_ack: int | None = None
    addr: tuple[str, int] | None = None  # UDP: where the node last spoke from
    key: bytes | None = None
    #: node clock -> wall clock: the smallest (receive ms - node_ms) seen, so the
    #: line's latency jitter does not reach the timestamps; it may creep up at
    #: DRIFT_PPM (a node crystal slower than ours) and resets on a jump (reboot, wrap).
    offset_ms: float | None = None
    offset_at: float = 0.0
    polls: int = 0
    timeouts: int = 0
    frames: int = 0
    duplicates: int = 0


@dataclass
class BusStats:
    #: node clock -> wall clock: the smallest (receive ms - node_ms) seen, so the
    #: line's latency jitter does not reach the timestamps; it may creep up at
    #: DRIFT_PPM (a node crystal slower than ours) and resets on a jump (reboot, wrap).
    offset_ms: float | None = None
    offset_at: float = 0.0
    polls: int = 0
    timeouts: int = 0
    retries: int = 0
    skipped: int = 0  # polls skipped: node down and backing off
    frames: int = 0
    duplicates: int = 0
    readings: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "polls": self.polls,
            "timeouts": self.timeouts,
            "retries": self.retries,
            "skipped": self.skipped,
            "frames": self.frames,
            "duplicates": self.duplicates,
            "readings": self.readings,
            "dropped": dict(self.dropped),
        }


Handler = Callable[["BusWorker", NodeState, Frame, Message], None]


class BusWorker:
    """Shared part of an RS-485 and a UDP bus: node table, delivery, counters."""

    def __init__(self, driver: McuDriver, bus: McuBus) -> None:
        self.driver = driver
        self.bus = bus
        self.config = driver.config
        self.stats = BusStats()
        self.dedup = Deduplicator()
        self.nodes: dict[int, NodeState] = {
            n.node: NodeState(
                n, Backoff(n.poll_interval_s, max(n.poll_interval_s, bus.backoff_max_s))
            )
            for n in driver.config.mcu.nodes
            if n.bus == bus.id
        }
        self.sink: Sink | None = None
        self.seq = 0
        self.lock = asyncio.Lock()
        self._waiters: dict[int, asyncio.Future[Frame]] = {}
        self.stopped = False

    @property
    def label(self) -> str:
        return f"{self.bus.id} ({self.bus.serial or f'udp:{self.bus.udp_port}'})"

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFFFF
        return self.seq

    def mark(self, ns: NodeState, up: bool, reason: str = "") -> None:
        after = "up" if up else "down"
        if ns.state == after:
            return
        ns.state = after
        device = self.config.device_id(ns.spec.id)
        log.log(
            logging.INFO if up else logging.WARNING, "mcu node %s is %s %s", device, after, reason
        )
        if self.sink is not None:
            self.sink.put_event(
                _event(
                    self.config.gateway.id,
                    EventType.DEVICE_UP if up else EventType.DEVICE_DOWN,
                    device,
                    Severity.INFO if up else Severity.WARNING,
                    f"mcu {self.label}: {reason}" if reason else f"mcu {self.label}",
                )
            )

    def accept(self, ns: NodeState, frame: Frame) -> None:
        """A frame from a node: de-duplicate, decode, dispatch."""
        self.stats.frames += 1
        ns.frames += 1
        waiter = self._waiters.pop(frame.node_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(frame)  # the answer to a poll, even a duplicate one
        if frame.type in DATA_TYPES and not self.dedup.accept(frame.node_id, frame.seq):
            self.stats.duplicates += 1
            ns.duplicates += 1
            return
        try:
            msg = decode_message(frame.type, frame.payload)
        except MessageError as exc:
            self.stats.dropped["payload"] += 1
            log.warning("mcu %s node %d: %s", self.label, frame.node_id, exc)
            return
        handler = self.driver.handlers.get(frame.type)
        if handler is not None:
            try:
                handler(self, ns, frame, msg)
            except Exception:
                log.exception(
                    "mcu %s: handling %s from node %d",
                    self.label,
                    type(msg).__name__,
                    frame.node_id,
                )

    # ------------------------------------------------------------ default handlers

    def on_readings(self, ns: NodeState, msg: Readings) -> None:
        samples = readings_to_samples(
            self.config, ns.spec, msg, now_ms(), self.driver.unknown_channels
        )
        self.stats.readings += len(msg.readings)
        if self.sink is not None:
            for sample in samples:
                self.sink.put_sample(sample)

    def on_event(self, ns: NodeState, msg: Event) -> None:
        try:
            name = EventCode(msg.code).name.lower()
        except ValueError:
            name = f"code_{msg.code}"
        severity = Severity.WARNING if msg.code >= EventCode.ROLLBACK else Severity.INFO
        if self.sink is not None:
            self.sink.put_event(
                _event(
                    self.config.gateway.id,
                    EventType.DRIVER,
                    self.config.device_id(ns.spec.id),
                    severity,
                    f"mcu node {ns.spec.id}: {name}" + (f" ({msg.text})" if msg.text else ""),
                    event=name,
                    arg=msg.arg,
                    age_ms=msg.age_ms(),
                )
            )

    def reset_node(self, ns: NodeState, frame: Frame) -> None:
        """A node that (re)booted starts its sequence afresh (at a random value)."""
        self.dedup.reset(ns.spec.node)
        self.dedup.accept(ns.spec.node, frame.seq)
        ns.offset_ms = None

    async def send(
        self, ns: NodeState, msg: Message, flags: int = 0, seq: int | None = None
    ) -> None:
        raise NotImplementedError

    async def exchange(
        self, ns: NodeState, msg: Message, timeout_s: float | None = None
    ) -> Frame | None:
        """Send `msg` to the node and wait for its next frame (None: no answer)."""
        limit = timeout_s if timeout_s is not None else self.bus.timeout_s
        async with self.lock:
            return await self._exchange_locked(ns, msg, limit)

    async def _exchange_locked(self, ns: NodeState, msg: Message, limit: float) -> Frame | None:
        fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._waiters[ns.spec.node] = fut
        try:
            await self.send(ns, msg)
            return await asyncio.wait_for(fut, limit)
        except TimeoutError:
            return None
        finally:
            self._waiters.pop(ns.spec.node, None)

    async def run(self, sink: Sink) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class SerialBusWorker(BusWorker):
    """RS-485: the gateway polls, nodes answer."""

    def __init__(self, driver: McuDriver, bus: McuBus) -> None:
        super().__init__(driver, bus)
        self.serial: Any = None
        self.decoder = FrameDecoder()
        self._bad_seen = 0

    def open(self) -> None:
        import serial

        self.serial = serial.Serial(self.bus.serial, self.bus.baudrate, timeout=0, write_timeout=2)
        asyncio.get_running_loop().add_reader(self.serial.fileno(), self._readable)

    def close(self) -> None:
        if self.serial is not None:
            try:
                asyncio.get_running_loop().remove_reader(self.serial.fileno())
            except (RuntimeError, ValueError, OSError):
                pass
            self.serial.close()
            self.serial = None

    def _readable(self) -> None:
        try:
            data = os.read(self.serial.fileno(), 4096)
        except BlockingIOError:
            return
        except OSError:
            return
        for frame in self.decoder.feed(data):
            ns = self.nodes.get(frame.node_id)
            if ns is None or not frame.flags & FROM_NODE:
                self.stats.dropped["stranger" if ns is None else "direction"] += 1
                continue
            self.accept(ns, frame)

    async def send(
        self, ns: NodeState, msg: Message, flags: int = 0, seq: int | None = None
    ) -> None:
        wire = build(msg, ns.spec.node, self.next_seq() if seq is None else seq, flags)
        self.serial.write(wire)

    async def poll(self, ns: NodeState) -> bool:
        """One poll turn of a node: True if it answered. Costs at most timeout_s
        (plus `retries` re-polls if answers arrive damaged)."""
        got = 0
        attempts = 0
        async with self.lock:
            while got < self.bus.max_frames_per_poll and not self.stopped:
                self.stats.polls += 1
                ns.polls += 1
                bad_before = self.decoder.bad_total
                frame = await self._exchange_locked(
                    ns, Poll(ack_seq=ns.pending_ack), self.bus.timeout_s
                )
                if frame is None:
                    damaged = self.decoder.bad_total > bad_before
                    if damaged and attempts < self.bus.retries:
                        attempts += 1
                        self.stats.retries += 1
                        continue
                    if got == 0:
                        self.stats.timeouts += 1
                        ns.timeouts += 1
                        return False
                    return True
                got += 1
                ns.pending_ack = frame.seq if frame.type in DATA_TYPES else None
                if not frame.flags & MORE:
                    break
        return True

    async def run(self, sink: Sink) -> None:
        self.sink = sink
        nodes = list(self.nodes.values())
        intervals = [n.spec.poll_interval_s for n in nodes]
        loop = asyncio.get_running_loop()
        due = [loop.time()] * len(nodes)
        try:
            while not self.stopped:
                if self.serial is None:
                    try:
                        self.open()
                    except OSError as exc:
                        log.warning("mcu %s: cannot open: %s", self.label, exc)
                        await asyncio.sleep(1.0)
                        continue
                nxt = min(due) if due else loop.time() + 3600
                wait = nxt - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                now = loop.time()
                for i, ns in enumerate(nodes):
                    if due[i] > now:
                        continue
                    due[i] = max(due[i] + intervals[i], now)
                    if time.monotonic() < ns.retry_at:
                        self.stats.skipped += 1
                        continue
                    try:
                        ok = await self.poll(ns)
                    except OSError as exc:
                        log.warning("mcu %s: line error %s; reopening", self.label, exc)
                        self.close()
                        break
                    if ok:
                        ns.backoff.reset()
                        ns.retry_at = 0.0
                        self.mark(ns, True)
                    else:
                        ns.retry_at = time.monotonic() + ns.backoff.next()
                        ns.pending_ack = None
                        self.mark(ns, False, f"no answer within {self.bus.timeout_s} s")
        finally:
            self.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, worker: UdpBusWorker) -> None:
        self.worker = worker

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self.worker.datagram(data, addr)
        except Exception:  # a bug must not stop the bus: log, count, go on
            self.worker.stats.dropped["error"] += 1
            log.exception("mcu %s: datagram from %s", self.worker.label, addr)


class UdpBusWorker(BusWorker):
    """Nodes on the local network push signed frames."""

    def __init__(self, driver: McuDriver, bus: McuBus) -> None:
        super().__init__(driver, bus)
        self.transport: asyncio.DatagramTransport | None = None
        self.replay = ReplayGuard(window_s=int(bus.window_s), seqs=self.dedup)
        self.clock: Callable[[], float] = time.time

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[:2]

    def datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            frame = decode_frame(data)
        except FrameError as exc:
            self.stats.dropped[exc.reason] += 1
            return
        ns = self.nodes.get(frame.node_id)
        if ns is None:
            self.stats.dropped["stranger"] += 1
            return
        if ns.key is None or not frame.flags & FROM_NODE:
            self.stats.dropped["no_key" if ns.key is None else "direction"] += 1
            return
        if not verify_auth(frame, ns.key):
            self.stats.dropped["auth"] += 1
            return
        assert frame.auth_time is not None
        now = self.clock()
        if abs(now - frame.auth_time) > self.bus.window_s:
            self.stats.dropped["stale"] += 1
            ns.addr = addr
            # correctly signed, clock off: tell the node the time (it is not delivered)
            self._send_to(ns, TimeSync(int(now * 1000)), 0)
            return
        ns.addr = addr
        duplicate = frame.type in DATA_TYPES and self.dedup.seen(frame.node_id, frame.seq)
        if frame.flags & ACK_REQ:
            self._send_to(ns, Ack(frame.seq), 0)
        if duplicate:
            self.stats.duplicates += 1
            self.stats.dropped["replay"] += 1
            ns.duplicates += 1
            return
        self.mark(ns, True)
        self.accept(ns, frame)

    def _send_to(self, ns: NodeState, msg: Message, flags: int, seq: int | None = None) -> None:
        if self.transport is None or ns.addr is None or ns.key is None:
            return
        wire = build(msg, ns.spec.node, self.next_seq() if seq is None else seq, flags,
                     key=ns.key, auth_time=int(self.clock()))  # fmt: skip
        self.transport.sendto(wire, ns.addr)

    async def send(
        self, ns: NodeState, msg: Message, flags: int = 0, seq: int | None = None
    ) -> None:
        if ns.addr is None:
            raise ConnectionError(f"mcu node {ns.spec.id} has not been heard on {self.label}")
        self._send_to(ns, msg, flags, seq)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


class McuDriver(Driver):
    """Every MCU bus of a gateway config, one task each."""

    name = "mcu"

    def __init__(self, config: GatewayConfig, keys: dict[str, bytes] | None = None) -> None:
        self.config = config
        self.unknown_channels: Counter[str] = Counter()
        self.handlers: dict[int, Handler] = {
            MsgType.READINGS: lambda w, ns, f, m: w.on_readings(ns, m),  # type: ignore[arg-type]
            MsgType.EVENT: lambda w, ns, f, m: w.on_event(ns, m),  # type: ignore[arg-type]
            MsgType.HELLO: lambda w, ns, f, m: w.reset_node(ns, f),
            MsgType.BOOT_REPORT: lambda w, ns, f, m: w.reset_node(ns, f),
        }
        self.workers: list[BusWorker] = [
            SerialBusWorker(self, bus) if bus.serial else UdpBusWorker(self, bus)
            for bus in config.mcu.buses
        ]
        self._keys = keys
        self._tasks: list[asyncio.Task[None]] = []

    def _load_keys(self) -> dict[str, bytes]:
        if self._keys is not None:
            return self._keys
        if not any(isinstance(w, UdpBusWorker) for w in self.workers):
            return {}
        from firmware_bridge.keystore import KeyStore

        return KeyStore(*self.config.mcu_keystore_paths()).load()

    async def start(self, sink: Sink) -> None:
        if self._tasks:
            raise RuntimeError("mcu driver already started")
        keys = await asyncio.to_thread(self._load_keys)
        for w in self.workers:
            for ns in w.nodes.values():
                ns.key = keys.get(f"{w.bus.id}/{ns.spec.node}")
            if isinstance(w, SerialBusWorker):
                path = w.bus.serial
                if not await asyncio.to_thread(os.path.exists, path):
                    raise RuntimeError(
                        f"mcu: serial device {path} of bus {w.bus.id!r} does not exist; check "
                        "the RS-485 adapter and the path (ls /dev/serial/by-id/)"
                    )
        for w in self.workers:
            w.stopped = False
            w.sink = sink
            if isinstance(w, UdpBusWorker):
                loop = asyncio.get_running_loop()
                w.transport, _ = await loop.create_datagram_endpoint(
                    lambda w=w: _UdpProtocol(w), local_addr=(w.bus.udp_host, w.bus.udp_port)
                )
                self._tasks.append(asyncio.create_task(_hold(w), name=f"mcu {w.label}"))
            else:
                self._tasks.append(asyncio.create_task(w.run(sink), name=f"mcu {w.label}"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for w in self.workers:
            w.stopped = True
        for t in tasks:
            t.cancel()
        await cancel_all(tasks, STOP_GRACE_S)
        for w in self.workers:
            w.close()

    def node(self, local_id: str) -> tuple[BusWorker, NodeState]:
        for w in self.workers:
            for ns in w.nodes.values():
                if ns.spec.id == local_id:
                    return w, ns
        raise KeyError(f"no MCU node {local_id!r} in the config")

    async def exchange(
        self, local_id: str, msg: Message, timeout_s: float | None = None
    ) -> Frame | None:
        """Send one message to a node and return its answer frame (None: no answer)."""
        w, ns = self.node(local_id)
        return await w.exchange(ns, msg, timeout_s)

    def inventory(self) -> list[InventoryItem]:
        return [
            InventoryItem(
                device=self.config.device_id(n.id),
                kind=n.kind,
                driver=self.name,
                site=n.site or self.config.gateway.site,
                metrics=[m.metric for m in n.metrics],
            )
            for n in self.config.mcu.nodes
        ]

    def status(self) -> dict[str, str]:
        return {
            self.config.device_id(ns.spec.id): ns.state
            for w in self.workers
            for ns in w.nodes.values()
        }

    def stats(self) -> dict[str, dict[str, Any]]:
        return {w.bus.id: w.stats.as_dict() for w in self.workers}


async def _hold(w: BusWorker) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        w.close()


__all__ = ["GATEWAY", "McuDriver", "readings_to_samples"]
