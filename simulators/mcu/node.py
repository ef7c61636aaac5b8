"""A simulated MCU node: sensors of one kind, an outbound queue, a dispatch table.

The node keeps each data frame until the gateway acknowledges it (POLL's ack_seq on
RS-485, ACK on UDP) and sends it again (flag RETRY, same seq) if not. Its sequence
starts at a random value at boot, as the protocol asks. The console (provisioning)
accepts ``key set <64 hex>`` and answers ``OK <first 8 hex of sha256(key)>``.

`SimNode.handlers` maps a message type to ``handler(frame, message) -> Message |
None`` (the answer); OTA adds its entries there (and may replace `hello`'s fields).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from firmware_bridge.protocol import (
    FROM_NODE,
    MAX_PAYLOAD,
    MAX_PAYLOAD_AUTH,
    MORE,
    RETRY,
    Ack,
    BootReason,
    BootReport,
    BootState,
    Capability,
    ConfigGet,
    ConfigSet,
    ConfigValue,
    Event,
    EventCode,
    Frame,
    FwVersion,
    Hello,
    Message,
    MsgType,
    Poll,
    PollWant,
    Reading,
    Readings,
    Status,
    TimeSync,
    VType,
    encode_frame,
)
from firmware_bridge.protocol.messages import CONFIG_NODE_NAME, CONFIG_REPORT_INTERVAL_MS

READINGS_HEADER = 9  # node_ms u32 | base_ms u32 | count u8
READING_HEADER = 4  # channel u8 | vtype u8 | offset_ms u16
VALUE_SIZE = {VType.BOOL: 1, VType.I16: 2, VType.U16: 2, VType.I32: 4, VType.U32: 4, VType.F32: 4}


@dataclass(frozen=True)
class Channel:
    channel: int
    vtype: VType
    metric: str
    unit: str | None = None
    scale: float = 1.0
    decimals: int | None = None

    def config(self) -> dict:
        out: dict = {"channel": self.channel, "metric": self.metric}
        if self.unit:
            out["unit"] = self.unit
        if self.scale != 1.0:
            out["scale"] = self.scale
        if self.decimals is not None:
            out["decimals"] = self.decimals
        return out


@dataclass(frozen=True)
class Kind:
    name: str
    hardware_id: str
    channels: tuple[Channel, ...]


KINDS: dict[str, Kind] = {
    "door": Kind("door", "sim-door-v1", (Channel(0, VType.BOOL, "door_open"),)),
    "compressor": Kind(
        "compressor",
        "sim-clamp-v1",
        (Channel(0, VType.F32, "compressor_current", "A", decimals=2),),
    ),
    "soil": Kind(
        "soil",
        "sim-soil-v1",
        (
            Channel(0, VType.U16, "soil_moisture", "%", 0.1, 1),
            Channel(1, VType.I16, "soil_temperature", "°C", 0.01, 2),
        ),
    ),
    "scale": Kind(
        "scale",
        "sim-scale-v1",
        (Channel(0, VType.I32, "weight", "kg", 0.001, 3), Channel(1, VType.BOOL, "weight_stable")),
    ),
}


def metrics_config(kind: str) -> list[dict]:
    """The `mcu.nodes[].metrics` a gateway config needs for a node of this kind."""
    return [c.config() for c in KINDS[kind].channels]


Handler = Callable[[Frame, Message], Message | None]


class SimNode:
    """One node. Time is `clock()` seconds (monotonic); tests may pass their own."""

    def __init__(
        self,
        node_id: int,
        kind: str,
        *,
        seed: int = 1,
        key: bytes | None = None,
        version: FwVersion = FwVersion(1, 0, 0),
        interval_ms: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        max_buffer: int = 4096,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown node kind {kind!r}; known: {', '.join(KINDS)}")
        self.node_id = node_id
        self.kind = KINDS[kind]
        self.rng = random.Random(seed * 7919 + node_id)
        self.key = key
        self.version = version
        self.bootloader = FwVersion(1, 0, 0)
        self.active_slot = 0
        self.interval_ms = interval_ms
        self.clock = clock
        self.max_buffer = max_buffer
        self.name = f"{kind}-{node_id}"
        self.boot()
        self.handlers: dict[int, Handler] = {
            MsgType.POLL: self.on_poll,
            MsgType.ACK: self.on_ack,
            MsgType.TIME_SYNC: self.on_time_sync,
            MsgType.CONFIG_GET: self.on_config_get,
            MsgType.CONFIG_SET: self.on_config_set,
        }
        #: Wall-clock error of the node's RTC, s (UDP signs with time.time() + this).
        self.clock_error_s = 0.0
        self.dropped_readings = 0
        self.sent = 0
        self.retransmits = 0

    # ---------------------------------------------------------------- lifecycle

    def boot(self, reason: BootReason = BootReason.POWER_ON) -> None:
        self._t0 = self.clock()
        self.seq = self.rng.randrange(0x10000)
        self.buffer: deque[tuple[int, Channel, float | int | bool]] = deque()
        self.events: deque[Event] = deque()
        self.outstanding: tuple[int, Message] | None = None
        self.next_sample_ms = 0
        self.door_open = False
        self.boot_reason = reason
        # a report of this boot is queued first, then readings
        self.events_first: deque[Message] = deque([self.boot_report()])

    def node_ms(self) -> int:
        return int((self.clock() - self._t0) * 1000) & 0xFFFFFFFF

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFFFF
        return self.seq

    def hello(self) -> Hello:
        caps = Capability.READINGS | Capability.EVENTS | Capability.CONFIG | Capability.TIME_SYNC
        if self.key is not None:
            caps |= Capability.AUTH
        return Hello(self.version, self.bootloader, caps, self.active_slot, self.kind.hardware_id)

    def boot_report(self) -> BootReport:
        return BootReport(self.active_slot, self.version, BootState.CONFIRMED, self.boot_reason)

    def console(self, line: str) -> str:
        """The node's serial console (provisioning)."""
        parts = line.strip().split()
        if len(parts) == 3 and parts[:2] == ["key", "set"]:
            try:
                key = bytes.fromhex(parts[2])
            except ValueError:
                return "ERR key is not hex"
            if len(key) != 32:
                return "ERR key must be 32 bytes"
            self.key = key
            return "OK " + hashlib.sha256(key).hexdigest()[:8]
        if parts == ["id"]:
            return f"OK {self.node_id} {self.kind.hardware_id} {self.version}"
        return "ERR unknown command"

    # ------------------------------------------------------------------ sensors

    def value(self, ch: Channel, t_ms: int) -> float | int | bool:
        t = t_ms / 1000
        k = self.kind.name
        if k == "door":
            return self.door_open
        if k == "compressor":
            on = (t + self.node_id * 37) % 600 < 360
            return round((8.2 if on else 0.1) + self.rng.gauss(0, 0.15), 3)
        if k == "soil":
            if ch.channel == 0:
                return int(350 + 40 * math.sin(t / 3600) + self.rng.randint(-3, 3))
            return int(2150 + 300 * math.sin(t / 7200) + self.rng.randint(-10, 10))
        if ch.channel == 0:  # scale: grams
            return int(25_000 + 500 * math.sin(t / 60) + self.rng.randint(-20, 20))
        return self.rng.random() > 0.1

    def _door(self, t_ms: int) -> None:
        # open about 30 s in every 5 minutes, at random
        opened = (
            self.rng.random()
            < (1 / 300 if not self.door_open else 1 / 30) * self.interval_ms / 1000
        )
        if opened:
            self.door_open = not self.door_open
            code = EventCode.DOOR_OPEN if self.door_open else EventCode.DOOR_CLOSED
            self.events.append(Event(0, t_ms, code, 0, ""))

    def tick(self) -> None:
        """Take every reading due by now (one per interval per channel)."""
        now = self.node_ms()
        if self.next_sample_ms > now + 0x7FFFFFFF:  # wrapped
            self.next_sample_ms = now
        while self.next_sample_ms <= now:
            t = self.next_sample_ms
            if self.kind.name == "door":
                self._door(t)
            for ch in self.kind.channels:
                self.buffer.append((t, ch, self.value(ch, t)))
            while len(self.buffer) > self.max_buffer:
                self.buffer.popleft()
                self.dropped_readings += 1
            self.next_sample_ms += self.interval_ms
            if now - self.next_sample_ms > 3_600_000:  # a long gap: do not replay it all
                self.next_sample_ms = now

    def pack_readings(self, limit: int) -> Readings | None:
        if not self.buffer:
            return None
        base = self.buffer[0][0]
        items: list[Reading] = []
        size = READINGS_HEADER
        while self.buffer and len(items) < 255:
            t, ch, v = self.buffer[0]
            need = READING_HEADER + VALUE_SIZE[ch.vtype]
            if size + need > limit or not 0 <= t - base <= 0xFFFF:
                break
            self.buffer.popleft()
            items.append(Reading(ch.channel, ch.vtype, v, t - base))
            size += need
        return Readings(self.node_ms(), base & 0xFFFFFFFF, tuple(items))

    def queued(self) -> bool:
        return bool(self.events_first or self.events or self.buffer)

    def next_message(self) -> Message | None:
        if self.events_first:
            return self.events_first.popleft()
        if self.events:
            ev = self.events.popleft()
            return Event(self.node_ms(), ev.event_ms, ev.code, ev.arg, ev.text)
        return self.pack_readings(MAX_PAYLOAD_AUTH if self.key and self.udp else MAX_PAYLOAD)

    udp = False

    # ------------------------------------------------------------- dispatching

    def handle(self, frame: Frame, msg: Message) -> tuple[Message, int, int] | None:
        """The answer (message, seq, flags) to a frame addressed to this node."""
        handler = self.handlers.get(frame.type)
        if handler is None:
            return Ack(frame.seq, Status.UNKNOWN_TYPE), self.next_seq(), FROM_NODE
        reply = handler(frame, msg)
        if reply is None:
            return None
        if isinstance(reply, tuple):
            return reply
        return reply, self.next_seq(), FROM_NODE

    def on_poll(self, frame: Frame, msg: Poll) -> tuple[Message, int, int]:
        if msg.want == PollWant.HELLO:
            return self.hello(), self.next_seq(), FROM_NODE
        if msg.want == PollWant.BOOT_REPORT:
            return self.boot_report(), self.next_seq(), FROM_NODE
        if self.outstanding is not None and msg.ack_seq == self.outstanding[0]:
            self.outstanding = None
        self.tick()
        if self.outstanding is not None:
            self.retransmits += 1
            seq, out = self.resend()
            return out, seq, FROM_NODE | RETRY | (MORE if self.queued() else 0)
        nxt = self.next_message()
        if nxt is None:
            return Ack(frame.seq), self.next_seq(), FROM_NODE
        seq = self.next_seq()
        self.outstanding = (seq, nxt)
        self.sent += 1
        return nxt, seq, FROM_NODE | (MORE if self.queued() else 0)

    def resend(self) -> tuple[int, Message]:
        """The outstanding frame again: same seq and data, node_ms the clock now (the
        gateway stamps readings receive time - age, so the age must be today's)."""
        assert self.outstanding is not None
        seq, out = self.outstanding
        if isinstance(out, Readings | Event):
            out = dataclasses.replace(out, node_ms=self.node_ms())
            self.outstanding = (seq, out)
        return seq, out

    def on_ack(self, frame: Frame, msg: Ack) -> None:
        if self.outstanding is not None and msg.acked_seq == self.outstanding[0]:
            self.outstanding = None
        return None

    def on_time_sync(self, frame: Frame, msg: TimeSync) -> Message | None:
        self.clock_error_s = 0.0
        self.synced_utc_ms = msg.utc_ms
        if self.udp:
            return None  # the gateway's answer to a stale frame: just take the time
        return TimeSync(msg.utc_ms, self.node_ms())

    def on_config_get(self, frame: Frame, msg: ConfigGet) -> Message:
        if msg.key == CONFIG_REPORT_INTERVAL_MS:
            return ConfigValue(msg.key, Status.OK, VType.U32, self.interval_ms)
        if msg.key == CONFIG_NODE_NAME:
            return ConfigValue(msg.key, Status.OK, VType.STR, self.name)
        return ConfigValue(msg.key, Status.UNKNOWN_KEY)

    def on_config_set(self, frame: Frame, msg: ConfigSet) -> Message:
        if msg.key == CONFIG_REPORT_INTERVAL_MS and msg.vtype == VType.U32 and int(msg.value) > 0:
            self.interval_ms = int(msg.value)
        elif msg.key == CONFIG_NODE_NAME and msg.vtype == VType.STR:
            self.name = str(msg.value)
        elif msg.key in (CONFIG_REPORT_INTERVAL_MS, CONFIG_NODE_NAME):
            return ConfigValue(msg.key, Status.BAD_VALUE)
        else:
            return ConfigValue(msg.key, Status.UNKNOWN_KEY)
        return self.on_config_get(frame, ConfigGet(msg.key))

    def wire(self, msg: Message, seq: int, flags: int) -> bytes:
        from firmware_bridge.protocol import Frame as _F

        if self.udp and self.key is not None:
            when = int(time.time() + self.clock_error_s)
            return encode_frame(
                _F(msg.TYPE, self.node_id, seq, flags, msg.encode()), self.key, when
            )
        return encode_frame(_F(msg.TYPE, self.node_id, seq, flags, msg.encode()))
