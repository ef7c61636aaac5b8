"""Frames of the node protocol: header, payload, optional auth trailer, CRC, COBS.

Before COBS a frame is (big-endian throughout)::

    version u8 | type u8 | node_id u16 | seq u16 | flags u8 | payload ...
    [ auth_time u32 | auth_tag 16 bytes ]      (only when flags & AUTH)
    crc16 u16                                   (CRC-16/CCITT-FALSE of all before it)

at most MAX_FRAME (256) bytes; on the line it is COBS-encoded and ends with one 0x00.
The encoder refuses a larger frame (FrameTooLarge), it never truncates.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections import Counter
from dataclasses import dataclass, field, replace

from firmware_bridge.protocol import cobs
from firmware_bridge.protocol.crc import crc16_ccitt_false

PROTOCOL_VERSION = 1
MAX_FRAME = 256
HEADER = struct.Struct(">BBHHB")
HEADER_SIZE = HEADER.size  # 7
CRC_SIZE = 2
AUTH_TAG_SIZE = 16
AUTH_TRAILER_SIZE = 4 + AUTH_TAG_SIZE  # 20
MAX_PAYLOAD = MAX_FRAME - HEADER_SIZE - CRC_SIZE  # 247
MAX_PAYLOAD_AUTH = MAX_PAYLOAD - AUTH_TRAILER_SIZE  # 227
# COBS adds one byte per 254 plus one; the delimiter is one more.
MAX_ENCODED = MAX_FRAME + MAX_FRAME // 254 + 1 + 1
BROADCAST = 0xFFFF
GATEWAY = 0x0000

# flags
ACK_REQ = 0x01  # the receiver answers with ACK (or with the reply the type defines)
AUTH = 0x02  # an auth trailer (time + HMAC-SHA256/16) precedes the CRC
RETRY = 0x04  # a retransmission: same seq as before
MORE = 0x08  # the sender has more queued (a node: poll me again)
FROM_NODE = 0x10  # direction: set by nodes, clear from the gateway
KNOWN_FLAGS = ACK_REQ | AUTH | RETRY | MORE | FROM_NODE


class FrameError(ValueError):
    """A frame that cannot be accepted; `reason` is a short stable code for counting."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class FrameTooLarge(FrameError):
    def __init__(self, size: int) -> None:
        super().__init__("too_long", f"frame of {size} bytes exceeds {MAX_FRAME}")


@dataclass(frozen=True, slots=True)
class Frame:
    type: int
    node_id: int
    seq: int
    flags: int = 0
    payload: bytes = b""
    version: int = PROTOCOL_VERSION
    auth_time: int | None = None  # unix seconds, when flags & AUTH
    auth_tag: bytes | None = None

    @property
    def authenticated(self) -> bool:
        return bool(self.flags & AUTH)

    def header(self) -> bytes:
        return HEADER.pack(self.version, self.type, self.node_id, self.seq, self.flags)


def _check_fields(f: Frame) -> None:
    for name, value, top in (
        ("version", f.version, 0xFF),
        ("type", f.type, 0xFF),
        ("node_id", f.node_id, 0xFFFF),
        ("seq", f.seq, 0xFFFF),
        ("flags", f.flags, 0xFF),
    ):
        if not 0 <= value <= top:
            raise FrameError("field", f"{name}={value} out of range 0..{top}")


def auth_tag(key: bytes, signed: bytes) -> bytes:
    """HMAC-SHA256 truncated to 16 bytes over header | payload | auth_time."""
    return hmac.new(key, signed, hashlib.sha256).digest()[:AUTH_TAG_SIZE]


def frame_bytes(f: Frame, key: bytes | None = None, auth_time: int | None = None) -> bytes:
    """The frame before COBS (header | payload | [auth] | crc). With `key` it is signed."""
    _check_fields(f)
    if key is not None:
        if auth_time is None:
            raise FrameError("field", "auth_time is required to sign a frame")
        f = replace(f, flags=f.flags | AUTH)
    elif f.flags & AUTH:
        raise FrameError("field", "AUTH flag set but no key given")
    body = f.header() + bytes(f.payload)
    if key is not None:
        assert auth_time is not None
        if not 0 <= auth_time <= 0xFFFFFFFF:
            raise FrameError("field", f"auth_time={auth_time} out of range")
        body += struct.pack(">I", auth_time)
        body += auth_tag(key, body)
    size = len(body) + CRC_SIZE
    if size > MAX_FRAME:
        raise FrameTooLarge(size)
    return body + struct.pack(">H", crc16_ccitt_false(body))


def encode_frame(f: Frame, key: bytes | None = None, auth_time: int | None = None) -> bytes:
    """The frame as sent on the line: COBS(frame_bytes) followed by the 0x00 delimiter."""
    return cobs.encode(frame_bytes(f, key, auth_time)) + b"\x00"


def parse_frame(raw: bytes) -> Frame:
    """Parse a frame after COBS decoding (header | payload | [auth] | crc)."""
    if len(raw) > MAX_FRAME:
        raise FrameError("too_long", f"{len(raw)} bytes exceeds {MAX_FRAME}")
    if len(raw) < HEADER_SIZE + CRC_SIZE:
        raise FrameError("too_short", f"{len(raw)} bytes, at least {HEADER_SIZE + CRC_SIZE}")
    body, (crc,) = raw[:-CRC_SIZE], struct.unpack(">H", raw[-CRC_SIZE:])
    want = crc16_ccitt_false(body)
    if crc != want:
        raise FrameError("crc", f"crc 0x{crc:04X}, computed 0x{want:04X}")
    version, mtype, node_id, seq, flags = HEADER.unpack_from(body)
    if version != PROTOCOL_VERSION:
        raise FrameError("version", f"version {version}, this side speaks {PROTOCOL_VERSION}")
    if flags & ~KNOWN_FLAGS:
        raise FrameError("flags", f"unknown flag bits 0x{flags & ~KNOWN_FLAGS:02X}")
    payload = body[HEADER_SIZE:]
    auth_time = tag = None
    if flags & AUTH:
        if len(payload) < AUTH_TRAILER_SIZE:
            raise FrameError("auth_trailer", f"AUTH set but only {len(payload)} bytes follow")
        (auth_time,) = struct.unpack_from(">I", payload, len(payload) - AUTH_TRAILER_SIZE)
        tag = bytes(payload[-AUTH_TAG_SIZE:])
        payload = payload[:-AUTH_TRAILER_SIZE]
    return Frame(mtype, node_id, seq, flags, bytes(payload), version, auth_time, tag)


def decode_frame(data: bytes) -> Frame:
    """Decode one frame as it came off the line (COBS, with or without the 0x00)."""
    if data.endswith(b"\x00"):
        data = data[:-1]
    if len(data) > MAX_ENCODED:
        raise FrameError("too_long", f"{len(data)} encoded bytes")
    try:
        raw = cobs.decode(data)
    except cobs.CobsError as exc:
        raise FrameError("cobs", str(exc)) from None
    return parse_frame(raw)


def verify_auth(f: Frame, key: bytes) -> bool:
    """True when the frame carries an auth trailer whose tag is right for `key`."""
    if not f.flags & AUTH or f.auth_tag is None or f.auth_time is None:
        return False
    signed = f.header() + f.payload + struct.pack(">I", f.auth_time)
    return hmac.compare_digest(auth_tag(key, signed), f.auth_tag)


@dataclass
class FrameDecoder:
    """Splits a byte stream at 0x00 delimiters and decodes each frame.

    A bad frame never raises: it is counted in `bad[reason]` and skipped; an
    over-long run without a delimiter is dropped up to the next 0x00.
    """

    frames: int = 0
    bad: Counter[str] = field(default_factory=Counter)
    _buf: bytearray = field(default_factory=bytearray)
    _overflow: bool = False

    def feed(self, data: bytes) -> list[Frame]:
        out: list[Frame] = []
        for part_no, part in enumerate(bytes(data).split(b"\x00")):
            if part_no > 0:
                self._finish(out)
            if self._overflow:
                continue
            self._buf += part
            if len(self._buf) > MAX_ENCODED:
                self._buf.clear()
                self._overflow = True
        return out

    def _finish(self, out: list[Frame]) -> None:
        if self._overflow:
            self._overflow = False
            self.bad["too_long"] += 1
            return
        if not self._buf:  # back-to-back delimiters (line idle fill) are not frames
            return
        chunk = bytes(self._buf)
        self._buf.clear()
        try:
            out.append(decode_frame(chunk))
            self.frames += 1
        except FrameError as exc:
            self.bad[exc.reason] += 1

    @property
    def bad_total(self) -> int:
        return sum(self.bad.values())
