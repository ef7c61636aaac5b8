"""Test vectors shared by the Python and C tests (and the firmware team).

``python -m firmware_bridge.protocol.vectors > firmware_bridge/protocol/vectors.json``
regenerates the file; tests/firmware_bridge/test_vectors.py checks that the file
still equals what this code produces, and the C reference decodes every frame of it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from firmware_bridge.protocol import cobs
from firmware_bridge.protocol.crc import crc16_ccitt_false, crc32
from firmware_bridge.protocol.frame import FROM_NODE, Frame, frame_bytes
from firmware_bridge.protocol.messages import (
    Ack,
    BootReason,
    BootReport,
    BootState,
    ConfigGet,
    ConfigSet,
    ConfigValue,
    Event,
    EventCode,
    FwVersion,
    Hello,
    Message,
    OfferFlags,
    OtaChunk,
    OtaChunkAck,
    OtaCommit,
    OtaOffer,
    Poll,
    PollWant,
    Reading,
    Readings,
    Status,
    TimeSync,
    VType,
)

PATH = Path(__file__).with_name("vectors.json")
KEY = bytes(range(32))
AUTH_TIME = 1_780_000_000
SHA = bytes.fromhex("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")

MESSAGES: list[tuple[str, Message, int, int, int]] = [
    # name, message, node id, seq, flags
    (
        "hello",
        Hello(FwVersion(1, 2, 3), FwVersion(1, 0, 0), 0x1F, 0, "esp32c3-door-v2"),
        17,
        1,
        FROM_NODE,
    ),
    ("poll", Poll(PollWant.QUEUED), 17, 2, 0),
    ("poll_with_ack", Poll(PollWant.QUEUED, 0x0101), 17, 3, 0),
    ("ack", Ack(0x1234, Status.OK), 17, 0xFFFF, FROM_NODE),
    (
        "readings",
        Readings(
            123_456,
            120_000,
            (
                Reading(0, VType.BOOL, True, 0),
                Reading(1, VType.I16, -1250, 500),
                Reading(2, VType.U16, 41_000, 1000),
                Reading(3, VType.I32, -100_000, 1500),
                Reading(4, VType.U32, 3_000_000_000, 2000),
                Reading(5, VType.F32, 8.25, 2500),
            ),
        ),
        18,
        0x00FF,
        FROM_NODE,
    ),
    ("event", Event(5_000, 4_200, EventCode.DOOR_OPEN, 0, "door 1"), 17, 7, FROM_NODE),
    ("config_get", ConfigGet(1), 17, 8, 0),
    ("config_set", ConfigSet(1, VType.U32, 60_000), 17, 9, 0),
    ("config_value", ConfigValue(2, Status.OK, VType.STR, "冷库-1"), 17, 10, FROM_NODE),
    ("time_sync", TimeSync(1_780_000_000_123, 0), 17, 11, 0),
    (
        "ota_offer",
        OtaOffer(
            0xA1B2C3D4, FwVersion(1, 3, 0), 65_536, 200, SHA, 180, SHA, OfferFlags.DOWNGRADE_ALLOWED
        ),
        17,
        12,
        0,
    ),
    ("ota_chunk", OtaChunk(0xA1B2C3D4, 400, bytes(range(1, 17))), 17, 13, 0),
    ("ota_chunk_ack", OtaChunkAck(0xA1B2C3D4, 600, Status.OK), 17, 14, FROM_NODE),
    ("ota_commit", OtaCommit(0xA1B2C3D4, SHA, 5), 17, 15, 0),
    (
        "boot_report",
        BootReport(
            1, FwVersion(1, 3, 0), BootState.TRIAL, BootReason.OTA_TRIAL, 1, FwVersion(1, 2, 3)
        ),
        17,
        16,
        FROM_NODE,
    ),
]


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, FwVersion):
        return str(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Reading):
        return {k: _jsonable(getattr(value, k)) for k in ("channel", "vtype", "value", "offset_ms")}
    return value


def fields(msg: Message) -> dict[str, Any]:
    names = [n for n in msg.__dataclass_fields__ if n not in ("TYPE", "STRUCT")]  # type: ignore[attr-defined]
    return {n: _jsonable(getattr(msg, n)) for n in names}


def _frame(f: Frame, key: bytes | None = None) -> dict[str, Any]:
    raw = frame_bytes(f, key, AUTH_TIME if key else None)
    return {"frame": raw.hex(), "wire": (cobs.encode(raw) + b"\x00").hex()}


def build_vectors() -> dict[str, Any]:
    out: dict[str, Any] = {
        "crc16_ccitt_false": [
            {"data": b"123456789".hex(), "crc": f"{crc16_ccitt_false(b'123456789'):04x}"},
            {"data": "", "crc": f"{crc16_ccitt_false(b''):04x}"},
            {"data": "00ff00", "crc": f"{crc16_ccitt_false(bytes.fromhex('00ff00')):04x}"},
        ],
        "crc32": [{"data": b"123456789".hex(), "crc": f"{crc32(b'123456789'):08x}"}],
        "cobs": [
            {"data": d.hex(), "encoded": cobs.encode(d).hex()}
            for d in (
                b"",
                b"\x00",
                b"\x00\x00",
                b"\x11\x22\x00\x33",
                b"\x11\x00\x00\x00",
                bytes(range(1, 255)),
                bytes(range(1, 256)),
                bytes(range(256)),
            )
        ],
        "messages": [],
        "auth": {"key": KEY.hex(), "auth_time": AUTH_TIME},
        "bad_frames": [],
    }
    for name, msg, node, seq, flags in MESSAGES:
        f = Frame(msg.TYPE, node, seq, flags, msg.encode())
        out["messages"].append(
            {
                "name": name,
                "type": int(msg.TYPE),
                "node_id": node,
                "seq": seq,
                "flags": flags,
                "fields": fields(msg),
                "payload": msg.encode().hex(),
                **_frame(f),
            }
        )
    ack = Ack(7)
    signed = Frame(ack.TYPE, 21, 9, FROM_NODE, ack.encode())
    out["auth"]["frames"] = [{"name": "ack_signed", "type": int(ack.TYPE), "node_id": 21, "seq": 9,
                              "flags": FROM_NODE | 0x02, "payload": ack.encode().hex(), **_frame(signed, KEY)}]  # fmt: skip
    good = frame_bytes(Frame(Poll.TYPE, 17, 2, 0, Poll().encode()))
    bad_crc = good[:-1] + bytes([good[-1] ^ 0xFF])
    bad_version = bytes([2]) + good[1:-2]
    bad_version += crc16_ccitt_false(bad_version).to_bytes(2, "big")
    bad_flags = good[:6] + bytes([0x80]) + good[7:-2]
    bad_flags += crc16_ccitt_false(bad_flags).to_bytes(2, "big")
    short_auth = good[:6] + bytes([0x02]) + good[7:-2]
    short_auth += crc16_ccitt_false(short_auth).to_bytes(2, "big")
    too_long = bytes([1, 0x10, 0, 1, 0, 1, 0]) + bytes(248)
    too_long += crc16_ccitt_false(too_long).to_bytes(2, "big")
    for reason, wire in (
        ("crc", cobs.encode(bad_crc) + b"\x00"),
        ("version", cobs.encode(bad_version) + b"\x00"),
        ("flags", cobs.encode(bad_flags) + b"\x00"),
        ("auth_trailer", cobs.encode(short_auth) + b"\x00"),
        ("too_short", cobs.encode(good[:8]) + b"\x00"),
        ("too_long", cobs.encode(too_long) + b"\x00"),
        ("cobs", b"\x05\x01\x02\x00"),
        ("cobs", b"\x03\x01\x00\x02\x00"),
    ):
        out["bad_frames"].append({"reason": reason, "wire": wire.hex()})
    return out


def main() -> None:
    sys.stdout.write(json.dumps(build_vectors(), indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
