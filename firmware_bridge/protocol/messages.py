"""Message types of the node protocol: payload layouts as typed dataclasses.

Every message class has `TYPE` (the frame's type byte), `encode() -> bytes` (the
payload) and `decode(payload) -> Self` (raises MessageError naming the message and
field). `decode_message(frame_type, payload)` dispatches on the type byte. Layouts
are big-endian; PROTOCOL.md is the byte-level reference.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Self


class MessageError(ValueError):
    """A payload that does not match its message layout."""

    def __init__(self, message: str, field_name: str, reason: str) -> None:
        super().__init__(f"{message}.{field_name}: {reason}")
        self.message = message
        self.field = field_name
        self.reason = reason


class MsgType(IntEnum):
    HELLO = 0x01
    POLL = 0x02
    ACK = 0x03
    READINGS = 0x10
    EVENT = 0x11
    CONFIG_GET = 0x20
    CONFIG_SET = 0x21
    CONFIG_VALUE = 0x22
    TIME_SYNC = 0x30
    OTA_OFFER = 0x40
    OTA_CHUNK = 0x41
    OTA_CHUNK_ACK = 0x42
    OTA_COMMIT = 0x43
    BOOT_REPORT = 0x44


class Status(IntEnum):
    """Status byte of ACK, CONFIG_VALUE and OTA_CHUNK_ACK."""

    OK = 0
    BAD_PAYLOAD = 1
    UNKNOWN_TYPE = 2
    BUSY = 3
    AUTH = 4
    UNSUPPORTED = 5
    UNKNOWN_KEY = 6
    BAD_VALUE = 7
    OTA_NO_TRANSFER = 16  # chunk/commit for a transfer the node does not know
    OTA_OFFSET = 17  # chunk not at the next expected offset (next_offset says where)
    OTA_CHUNK_CRC = 18  # the chunk's CRC-32 does not match its data
    OTA_SHA256 = 19  # the whole image's SHA-256 does not match the offer
    OTA_SIGNATURE = 20  # manifest signature missing or wrong
    OTA_HARDWARE = 21  # image for other hardware
    OTA_DOWNGRADE = 22  # older version and downgrade not allowed
    OTA_SIZE = 23  # image larger than the slot
    OTA_FLASH = 24  # write or erase failed
    OTA_BOOTLOADER = 25  # the bootloader is older than the manifest's minimum


class VType(IntEnum):
    """Type byte of a typed value."""

    BOOL = 1  # u8 0/1
    I16 = 2
    U16 = 3
    I32 = 4
    U32 = 5
    F32 = 6  # IEEE 754 single
    STR = 7  # u8 length + UTF-8 (at most 64 bytes; config values only)


class Capability:
    """Bits of HELLO.capabilities."""

    READINGS = 0x01
    EVENTS = 0x02
    CONFIG = 0x04
    TIME_SYNC = 0x08
    OTA = 0x10
    MCUBOOT = 0x20
    AUTH = 0x40
    AB_SLOTS = 0x80


class PollWant(IntEnum):
    QUEUED = 0  # whatever the node has queued (readings, events); ACK(OK) when nothing
    HELLO = 1  # the node answers with HELLO
    BOOT_REPORT = 2  # the node answers with BOOT_REPORT


class BootState(IntEnum):
    CONFIRMED = 0
    TRIAL = 1
    ROLLED_BACK = 2


class BootReason(IntEnum):
    POWER_ON = 0
    OTA_TRIAL = 1  # first boot of a newly committed image
    ROLLBACK_TRIAL_FAILED = 2  # the trial image failed its self-test
    ROLLBACK_NO_CONFIRM = 3  # N boots without a confirmed boot report
    WATCHDOG = 4
    BROWNOUT = 5
    SOFTWARE = 6


class EventCode(IntEnum):
    DOOR_OPEN = 1
    DOOR_CLOSED = 2
    THRESHOLD = 3
    TAMPER = 4
    LOW_BATTERY = 5
    SENSOR_FAULT = 6
    ROLLBACK = 16  # arg = the rolled-back version packed as in FwVersion
    OTA_FAILED = 17  # arg = Status code


STR_MAX = 64
VALUE_FORMATS = {
    VType.BOOL: ">B",
    VType.I16: ">h",
    VType.U16: ">H",
    VType.I32: ">i",
    VType.U32: ">I",
    VType.F32: ">f",
}

Value = bool | int | float | str


class _Reader:
    """Cursor over a payload that raises MessageError naming the field."""

    def __init__(self, payload: bytes, message: str) -> None:
        self.buf = bytes(payload)
        self.pos = 0
        self.message = message

    def take(self, fmt: str, name: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise MessageError(self.message, name, f"payload ends at byte {len(self.buf)}")
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return values

    def one(self, fmt: str, name: str):
        return self.take(fmt, name)[0]

    def raw(self, size: int, name: str) -> bytes:
        if self.pos + size > len(self.buf):
            raise MessageError(self.message, name, f"needs {size} bytes, payload too short")
        out = self.buf[self.pos : self.pos + size]
        self.pos += size
        return out

    def rest(self) -> bytes:
        out = self.buf[self.pos :]
        self.pos = len(self.buf)
        return out

    def string(self, name: str) -> str:
        size = self.one(">B", name)
        if size > STR_MAX:
            raise MessageError(self.message, name, f"length {size} exceeds {STR_MAX}")
        try:
            return self.raw(size, name).decode("utf-8")
        except UnicodeDecodeError:
            raise MessageError(self.message, name, "not UTF-8") from None

    def value(self, vtype: int, name: str) -> Value:
        try:
            vt = VType(vtype)
        except ValueError:
            raise MessageError(self.message, name, f"unknown value type {vtype}") from None
        if vt is VType.STR:
            return self.string(name)
        v = self.one(VALUE_FORMATS[vt], name)
        if vt is VType.BOOL:
            if v > 1:
                raise MessageError(self.message, name, f"bool byte {v}")
            return bool(v)
        return v

    def end(self) -> None:
        if self.pos != len(self.buf):
            raise MessageError(
                self.message, "payload", f"{len(self.buf) - self.pos} bytes left over"
            )


def _string(value: str, message: str, name: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > STR_MAX:
        raise MessageError(message, name, f"{len(raw)} bytes exceeds {STR_MAX}")
    return bytes([len(raw)]) + raw


def encode_value(vtype: int, value: Value, message: str = "value", name: str = "value") -> bytes:
    try:
        vt = VType(vtype)
    except ValueError:
        raise MessageError(message, name, f"unknown value type {vtype}") from None
    if vt is VType.STR:
        if not isinstance(value, str):
            raise MessageError(message, name, "STR value must be a str")
        return _string(value, message, name)
    if isinstance(value, str):
        raise MessageError(message, name, f"{vt.name} value must be a number")
    if vt is VType.F32:
        if not math.isfinite(value):
            raise MessageError(message, name, "F32 value must be finite")
        return struct.pack(">f", value)
    if vt is VType.BOOL:
        return bytes([1 if value else 0])
    if isinstance(value, float) and not value.is_integer():
        raise MessageError(message, name, f"{vt.name} value {value} is not an integer")
    try:
        return struct.pack(VALUE_FORMATS[vt], int(value))
    except struct.error:
        raise MessageError(message, name, f"{value} out of range for {vt.name}") from None


def value_size(vtype: int) -> int:
    return struct.calcsize(VALUE_FORMATS[VType(vtype)])


@dataclass(frozen=True, slots=True, order=True)
class FwVersion:
    """major.minor.patch, on the wire u8 | u8 | u16."""

    major: int
    minor: int
    patch: int

    STRUCT: ClassVar[struct.Struct] = struct.Struct(">BBH")

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @classmethod
    def parse(cls, text: str) -> FwVersion:
        parts = text.strip().split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f"version {text!r} is not major.minor.patch")
        return cls(int(parts[0]), int(parts[1]), int(parts[2]))

    def pack(self) -> bytes:
        if not (0 <= self.major <= 255 and 0 <= self.minor <= 255 and 0 <= self.patch <= 65535):
            raise MessageError("version", "version", f"{self} out of range (u8.u8.u16)")
        return self.STRUCT.pack(self.major, self.minor, self.patch)

    def as_u32(self) -> int:
        return int.from_bytes(self.pack(), "big")

    @classmethod
    def from_u32(cls, value: int) -> FwVersion:
        return cls(*cls.STRUCT.unpack(value.to_bytes(4, "big")))


def _version(r: _Reader, name: str) -> FwVersion:
    return FwVersion(*r.take(">BBH", name))


class Message:
    TYPE: ClassVar[MsgType]

    def encode(self) -> bytes:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    @classmethod
    def decode(cls, payload: bytes) -> Self:  # pragma: no cover
        raise NotImplementedError


def _range(message: str, name: str, value: int, top: int) -> None:
    if not 0 <= value <= top:
        raise MessageError(message, name, f"{value} out of range 0..{top}")


@dataclass(frozen=True, slots=True)
class Hello(Message):
    """Node identity: answer to POLL(want=HELLO), and sent unasked on UDP at boot."""

    TYPE: ClassVar[MsgType] = MsgType.HELLO
    fw_version: FwVersion
    bootloader_version: FwVersion
    capabilities: int
    active_slot: int  # 0 = A, 1 = B
    hardware_id: str  # e.g. "esp32c3-door-v2"; OTA manifests name it as target

    def encode(self) -> bytes:
        _range("hello", "capabilities", self.capabilities, 0xFFFFFFFF)
        _range("hello", "active_slot", self.active_slot, 1)
        return (
            self.fw_version.pack()
            + self.bootloader_version.pack()
            + struct.pack(">IB", self.capabilities, self.active_slot)
            + _string(self.hardware_id, "hello", "hardware_id")
        )

    @classmethod
    def decode(cls, payload: bytes) -> Hello:
        r = _Reader(payload, "hello")
        fw = _version(r, "fw_version")
        boot = _version(r, "bootloader_version")
        caps, slot = r.take(">IB", "capabilities")
        if slot > 1:
            raise MessageError("hello", "active_slot", f"{slot} is neither 0 (A) nor 1 (B)")
        hw = r.string("hardware_id")
        r.end()
        return cls(fw, boot, caps, slot, hw)


@dataclass(frozen=True, slots=True)
class Poll(Message):
    """Gateway to node on RS-485: the node's turn to speak (it must answer).

    `ack_seq` (when not None) acknowledges the node's frame with that sequence from
    the previous poll, so a poll cycle is two frames (poll, answer), not three: the
    node drops an acknowledged frame, and answers with the next queued one; it
    re-sends an unacknowledged one (flag RETRY, same seq).
    Layout: want u8 | has_ack u8 (0/1) | ack_seq u16 (0 when has_ack is 0).
    """

    TYPE: ClassVar[MsgType] = MsgType.POLL
    want: int = PollWant.QUEUED
    ack_seq: int | None = None

    def encode(self) -> bytes:
        _range("poll", "want", self.want, 255)
        if self.ack_seq is not None:
            _range("poll", "ack_seq", self.ack_seq, 0xFFFF)
        has = self.ack_seq is not None
        return struct.pack(">BBH", self.want, 1 if has else 0, self.ack_seq if has else 0)

    @classmethod
    def decode(cls, payload: bytes) -> Poll:
        r = _Reader(payload, "poll")
        want, has, seq = r.take(">BBH", "want")
        r.end()
        if has > 1:
            raise MessageError("poll", "has_ack", f"{has} is neither 0 nor 1")
        if not has and seq:
            raise MessageError("poll", "ack_seq", "must be 0 when has_ack is 0")
        return cls(want, seq if has else None)


@dataclass(frozen=True, slots=True)
class Ack(Message):
    """Acknowledges the frame with sequence `acked_seq` (from the same peer)."""

    TYPE: ClassVar[MsgType] = MsgType.ACK
    acked_seq: int
    status: int = Status.OK

    def encode(self) -> bytes:
        _range("ack", "acked_seq", self.acked_seq, 0xFFFF)
        _range("ack", "status", self.status, 255)
        return struct.pack(">HB", self.acked_seq, self.status)

    @classmethod
    def decode(cls, payload: bytes) -> Ack:
        r = _Reader(payload, "ack")
        seq, status = r.take(">HB", "acked_seq")
        r.end()
        return cls(seq, status)


@dataclass(frozen=True, slots=True)
class Reading:
    """One typed value. Taken at node time base_ms + offset_ms."""

    channel: int
    vtype: int
    value: bool | int | float
    offset_ms: int = 0


@dataclass(frozen=True, slots=True)
class Readings(Message):
    """Typed readings with node-local times.

    node_ms is the node's monotonic millisecond clock when the frame was built; each
    reading was taken at base_ms + offset_ms on the same clock, so its age at sending
    is node_ms - base_ms - offset_ms (mod 2**32). The gateway stamps it
    receive_time - age; nodes need no wall clock.
    """

    TYPE: ClassVar[MsgType] = MsgType.READINGS
    node_ms: int
    base_ms: int
    readings: tuple[Reading, ...] = field(default_factory=tuple)

    def encode(self) -> bytes:
        _range("readings", "node_ms", self.node_ms, 0xFFFFFFFF)
        _range("readings", "base_ms", self.base_ms, 0xFFFFFFFF)
        _range("readings", "count", len(self.readings), 255)
        out = bytearray(struct.pack(">IIB", self.node_ms, self.base_ms, len(self.readings)))
        for i, rd in enumerate(self.readings):
            name = f"readings[{i}]"
            _range("readings", f"{name}.channel", rd.channel, 255)
            _range("readings", f"{name}.offset_ms", rd.offset_ms, 0xFFFF)
            if rd.vtype == VType.STR:
                raise MessageError("readings", f"{name}.vtype", "STR is for config values only")
            out += struct.pack(">BBH", rd.channel, rd.vtype, rd.offset_ms)
            out += encode_value(rd.vtype, rd.value, "readings", f"{name}.value")
        return bytes(out)

    @classmethod
    def decode(cls, payload: bytes) -> Readings:
        r = _Reader(payload, "readings")
        node_ms, base_ms, count = r.take(">IIB", "node_ms")
        items = []
        for i in range(count):
            name = f"readings[{i}]"
            channel, vtype, offset = r.take(">BBH", name)
            if vtype == VType.STR:
                raise MessageError("readings", f"{name}.vtype", "STR is for config values only")
            items.append(Reading(channel, vtype, r.value(vtype, f"{name}.value"), offset))
        r.end()
        return cls(node_ms, base_ms, tuple(items))

    def age_ms(self, reading: Reading) -> int:
        return (self.node_ms - self.base_ms - reading.offset_ms) & 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Event(Message):
    """Something that happened at node time event_ms (node_ms: the clock at sending)."""

    TYPE: ClassVar[MsgType] = MsgType.EVENT
    node_ms: int
    event_ms: int
    code: int
    arg: int = 0
    text: str = ""

    def encode(self) -> bytes:
        _range("event", "node_ms", self.node_ms, 0xFFFFFFFF)
        _range("event", "event_ms", self.event_ms, 0xFFFFFFFF)
        _range("event", "code", self.code, 0xFFFF)
        if not -(2**31) <= self.arg < 2**31:
            raise MessageError("event", "arg", f"{self.arg} out of range for i32")
        return struct.pack(">IIHi", self.node_ms, self.event_ms, self.code, self.arg) + _string(
            self.text, "event", "text"
        )

    @classmethod
    def decode(cls, payload: bytes) -> Event:
        r = _Reader(payload, "event")
        node_ms, event_ms, code, arg = r.take(">IIHi", "node_ms")
        text = r.string("text")
        r.end()
        return cls(node_ms, event_ms, code, arg, text)

    def age_ms(self) -> int:
        return (self.node_ms - self.event_ms) & 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class ConfigGet(Message):
    TYPE: ClassVar[MsgType] = MsgType.CONFIG_GET
    key: int

    def encode(self) -> bytes:
        _range("config_get", "key", self.key, 0xFFFF)
        return struct.pack(">H", self.key)

    @classmethod
    def decode(cls, payload: bytes) -> ConfigGet:
        r = _Reader(payload, "config_get")
        key = r.one(">H", "key")
        r.end()
        return cls(key)


@dataclass(frozen=True, slots=True)
class ConfigSet(Message):
    """Set a node setting; the node answers CONFIG_VALUE with the value it now holds."""

    TYPE: ClassVar[MsgType] = MsgType.CONFIG_SET
    key: int
    vtype: int
    value: Value

    def encode(self) -> bytes:
        _range("config_set", "key", self.key, 0xFFFF)
        _range("config_set", "vtype", self.vtype, 255)
        return struct.pack(">HB", self.key, self.vtype) + encode_value(
            self.vtype, self.value, "config_set", "value"
        )

    @classmethod
    def decode(cls, payload: bytes) -> ConfigSet:
        r = _Reader(payload, "config_set")
        key, vtype = r.take(">HB", "key")
        value = r.value(vtype, "value")
        r.end()
        return cls(key, vtype, value)


@dataclass(frozen=True, slots=True)
class ConfigValue(Message):
    """Answer to CONFIG_GET / CONFIG_SET. With status != OK, vtype is 0 and no value follows."""

    TYPE: ClassVar[MsgType] = MsgType.CONFIG_VALUE
    key: int
    status: int = Status.OK
    vtype: int = 0
    value: Value | None = None

    def encode(self) -> bytes:
        _range("config_value", "key", self.key, 0xFFFF)
        _range("config_value", "status", self.status, 255)
        if self.vtype == 0:
            return struct.pack(">HBB", self.key, self.status, 0)
        if self.value is None:
            raise MessageError("config_value", "value", "missing for a non-zero vtype")
        return struct.pack(">HBB", self.key, self.status, self.vtype) + encode_value(
            self.vtype, self.value, "config_value", "value"
        )

    @classmethod
    def decode(cls, payload: bytes) -> ConfigValue:
        r = _Reader(payload, "config_value")
        key, status, vtype = r.take(">HBB", "key")
        value = None if vtype == 0 else r.value(vtype, "value")
        r.end()
        return cls(key, status, vtype, value)


# Config keys every node understands (node kinds may add their own from 0x0100 up).
CONFIG_REPORT_INTERVAL_MS = 0x0001  # U32
CONFIG_NODE_NAME = 0x0002  # STR
CONFIG_TRIAL_BOOTS = 0x0003  # U16: boots without a confirmed report before rollback


@dataclass(frozen=True, slots=True)
class TimeSync(Message):
    """Gateway -> node: utc_ms (gateway's wall clock), node_ms 0. The node answers
    TIME_SYNC echoing utc_ms with its own node_ms; the gateway then maps node time to
    UTC, and nodes that sign (UDP) learn the time for their auth trailer."""

    TYPE: ClassVar[MsgType] = MsgType.TIME_SYNC
    utc_ms: int
    node_ms: int = 0

    def encode(self) -> bytes:
        _range("time_sync", "utc_ms", self.utc_ms, 2**64 - 1)
        _range("time_sync", "node_ms", self.node_ms, 0xFFFFFFFF)
        return struct.pack(">QI", self.utc_ms, self.node_ms)

    @classmethod
    def decode(cls, payload: bytes) -> TimeSync:
        r = _Reader(payload, "time_sync")
        utc_ms, node_ms = r.take(">QI", "utc_ms")
        r.end()
        return cls(utc_ms, node_ms)


class OfferFlags:
    MCUBOOT = 0x01  # the image is in MCUboot format (signature in its TLVs)
    DOWNGRADE_ALLOWED = 0x02  # the signed manifest allows a downgrade


@dataclass(frozen=True, slots=True)
class OtaOffer(Message):
    """Gateway -> node: an image is available.

    The transfer stream is the image (image_size bytes) followed by the signed
    manifest (manifest_size bytes, may be 0 for MCUboot images); chunk offsets run
    over the whole stream. The node answers OTA_CHUNK_ACK with next_offset: 0 for a
    new transfer, or where it got to when it already holds part of the same
    transfer_id and image_sha256 (resume after power loss), or a refusal status.
    """

    TYPE: ClassVar[MsgType] = MsgType.OTA_OFFER
    transfer_id: int
    version: FwVersion
    image_size: int
    chunk_size: int
    image_sha256: bytes
    manifest_size: int = 0
    manifest_sha256: bytes = bytes(32)
    flags: int = 0

    STRUCT: ClassVar[struct.Struct] = struct.Struct(">I4sIHB32sH32s")

    def encode(self) -> bytes:
        _range("ota_offer", "transfer_id", self.transfer_id, 0xFFFFFFFF)
        _range("ota_offer", "image_size", self.image_size, 0xFFFFFFFF)
        _range("ota_offer", "chunk_size", self.chunk_size, MAX_CHUNK_DATA)
        if self.chunk_size == 0:
            raise MessageError("ota_offer", "chunk_size", "must be at least 1")
        _range("ota_offer", "manifest_size", self.manifest_size, 0xFFFF)
        _range("ota_offer", "flags", self.flags, 255)
        for name in ("image_sha256", "manifest_sha256"):
            if len(getattr(self, name)) != 32:
                raise MessageError("ota_offer", name, "must be 32 bytes")
        return self.STRUCT.pack(
            self.transfer_id,
            self.version.pack(),
            self.image_size,
            self.chunk_size,
            self.flags,
            self.image_sha256,
            self.manifest_size,
            self.manifest_sha256,
        )

    @classmethod
    def decode(cls, payload: bytes) -> OtaOffer:
        if len(payload) != cls.STRUCT.size:
            raise MessageError(
                "ota_offer", "payload", f"{len(payload)} bytes, want {cls.STRUCT.size}"
            )
        tid, ver, size, chunk, flags, sha, msize, msha = cls.STRUCT.unpack(payload)
        if chunk == 0 or chunk > MAX_CHUNK_DATA:
            raise MessageError("ota_offer", "chunk_size", f"{chunk} not in 1..{MAX_CHUNK_DATA}")
        version = FwVersion(*FwVersion.STRUCT.unpack(ver))
        return cls(tid, version, size, chunk, sha, msize, msha, flags)

    @property
    def stream_size(self) -> int:
        return self.image_size + self.manifest_size


# OTA_CHUNK header is 12 bytes; the rest of a signed (UDP) frame's payload is data.
OTA_CHUNK_HEADER = 12
MAX_CHUNK_DATA = 227 - OTA_CHUNK_HEADER  # 215: fits a signed frame too


@dataclass(frozen=True, slots=True)
class OtaChunk(Message):
    """Gateway -> node: `data` at `offset` of the transfer stream; crc32 = CRC-32 of data."""

    TYPE: ClassVar[MsgType] = MsgType.OTA_CHUNK
    transfer_id: int
    offset: int
    data: bytes
    crc32: int | None = None  # computed by encode when None

    def encode(self) -> bytes:
        from firmware_bridge.protocol.crc import crc32

        _range("ota_chunk", "transfer_id", self.transfer_id, 0xFFFFFFFF)
        _range("ota_chunk", "offset", self.offset, 0xFFFFFFFF)
        if not self.data:
            raise MessageError("ota_chunk", "data", "empty")
        if len(self.data) > MAX_CHUNK_DATA:
            raise MessageError(
                "ota_chunk", "data", f"{len(self.data)} bytes exceeds {MAX_CHUNK_DATA}"
            )
        crc = crc32(self.data) if self.crc32 is None else self.crc32
        return struct.pack(">III", self.transfer_id, self.offset, crc) + bytes(self.data)

    @classmethod
    def decode(cls, payload: bytes) -> OtaChunk:
        r = _Reader(payload, "ota_chunk")
        tid, offset, crc = r.take(">III", "transfer_id")
        data = r.rest()
        if not data:
            raise MessageError("ota_chunk", "data", "empty")
        return cls(tid, offset, data, crc)

    def crc_ok(self) -> bool:
        from firmware_bridge.protocol.crc import crc32

        return self.crc32 is None or crc32(self.data) == self.crc32


@dataclass(frozen=True, slots=True)
class OtaChunkAck(Message):
    """Node -> gateway: the next stream offset the node expects (all before it is
    stored and CRC-checked). Answers OTA_OFFER (resume point) and each OTA_CHUNK."""

    TYPE: ClassVar[MsgType] = MsgType.OTA_CHUNK_ACK
    transfer_id: int
    next_offset: int
    status: int = Status.OK

    def encode(self) -> bytes:
        _range("ota_chunk_ack", "transfer_id", self.transfer_id, 0xFFFFFFFF)
        _range("ota_chunk_ack", "next_offset", self.next_offset, 0xFFFFFFFF)
        _range("ota_chunk_ack", "status", self.status, 255)
        return struct.pack(">IIB", self.transfer_id, self.next_offset, self.status)

    @classmethod
    def decode(cls, payload: bytes) -> OtaChunkAck:
        r = _Reader(payload, "ota_chunk_ack")
        tid, nxt, status = r.take(">IIB", "transfer_id")
        r.end()
        return cls(tid, nxt, status)


@dataclass(frozen=True, slots=True)
class OtaCommit(Message):
    """Gateway -> node: the stream is complete. The node checks SHA-256 and signature,
    marks the new slot for a trial boot and reboots after reboot_delay_s; it answers
    ACK with Status.OK or the reason it refuses (OTA_SHA256, OTA_SIGNATURE, ...)."""

    TYPE: ClassVar[MsgType] = MsgType.OTA_COMMIT
    transfer_id: int
    image_sha256: bytes
    reboot_delay_s: int = 0

    def encode(self) -> bytes:
        _range("ota_commit", "transfer_id", self.transfer_id, 0xFFFFFFFF)
        _range("ota_commit", "reboot_delay_s", self.reboot_delay_s, 0xFFFF)
        if len(self.image_sha256) != 32:
            raise MessageError("ota_commit", "image_sha256", "must be 32 bytes")
        return struct.pack(">I32sH", self.transfer_id, self.image_sha256, self.reboot_delay_s)

    @classmethod
    def decode(cls, payload: bytes) -> OtaCommit:
        r = _Reader(payload, "ota_commit")
        tid, sha, delay = r.take(">I32sH", "transfer_id")
        r.end()
        return cls(tid, sha, delay)


@dataclass(frozen=True, slots=True)
class BootReport(Message):
    """Node -> gateway after each boot (and on POLL(want=BOOT_REPORT))."""

    TYPE: ClassVar[MsgType] = MsgType.BOOT_REPORT
    slot: int  # 0 = A, 1 = B: the slot running now
    version: FwVersion
    state: int  # BootState
    reason: int  # BootReason
    boot_count: int = 0  # boots of this image since it was committed (trial counter)
    other_version: FwVersion = FwVersion(0, 0, 0)  # the image in the other slot

    def encode(self) -> bytes:
        _range("boot_report", "slot", self.slot, 1)
        _range("boot_report", "state", self.state, 255)
        _range("boot_report", "reason", self.reason, 255)
        _range("boot_report", "boot_count", self.boot_count, 255)
        return (
            struct.pack(">B", self.slot)
            + self.version.pack()
            + struct.pack(">BBB", self.state, self.reason, self.boot_count)
            + self.other_version.pack()
        )

    @classmethod
    def decode(cls, payload: bytes) -> BootReport:
        r = _Reader(payload, "boot_report")
        slot = r.one(">B", "slot")
        if slot > 1:
            raise MessageError("boot_report", "slot", f"{slot} is neither 0 (A) nor 1 (B)")
        version = _version(r, "version")
        state, reason, count = r.take(">BBB", "state")
        if state not in BootState._value2member_map_:
            raise MessageError("boot_report", "state", f"unknown state {state}")
        other = _version(r, "other_version")
        r.end()
        return cls(slot, version, state, reason, count, other)


MESSAGES: dict[int, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        Poll,
        Ack,
        Readings,
        Event,
        ConfigGet,
        ConfigSet,
        ConfigValue,
        TimeSync,
        OtaOffer,
        OtaChunk,
        OtaChunkAck,
        OtaCommit,
        BootReport,
    )
}


def decode_message(frame_type: int, payload: bytes) -> Message:
    cls = MESSAGES.get(frame_type)
    if cls is None:
        raise MessageError("frame", "type", f"unknown message type 0x{frame_type:02X}")
    return cls.decode(payload)
