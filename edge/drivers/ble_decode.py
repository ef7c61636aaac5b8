"""Decoders of BLE advertisements: bytes in, a reading out, or a clear DecodeError.

- RuuviTag data format 5 (RAWv2): manufacturer data of company 0x0499;
- iBeacon: manufacturer data of company 0x004C (Apple), type 0x02, length 0x15;
- Eddystone-TLM: service data of UUID 0xFEAA, frame type 0x20 (unencrypted);
- a generic mapping from YAML for any other manufacturer's data.

Every decoder takes the payload *after* the 2-byte company id (manufacturer
data) or after the 16-bit UUID (service data), as bleak hands them over.
Fields the device marks "not available" decode to None. Nothing here raises
anything but :class:`DecodeError` on any input (hypothesis fuzzes them).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protocol.ids import MetricName

RUUVI_COMPANY = 0x0499
APPLE_COMPANY = 0x004C
EDDYSTONE_UUID = 0xFEAA


class DecodeError(ValueError):
    """The payload is unknown, short or malformed; the message says which and why."""


@dataclass(slots=True)
class Decoded:
    """One advertisement's content: metrics (None = not available) and identity."""

    format: str
    values: dict[str, float | None]
    #: The tag's own 16-bit measurement sequence, when it sends one (dedup).
    seq: int | None = None
    #: The MAC the payload itself carries (RuuviTag), upper case.
    mac: str | None = None
    #: iBeacon identity: UUID, major, minor.
    beacon: dict[str, str | int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"format": self.format, "values": self.values}
        if self.seq is not None:
            out["seq"] = self.seq
        if self.mac is not None:
            out["mac"] = self.mac
        if self.beacon:
            out["beacon"] = self.beacon
        return out


def _need(data: bytes, length: int, what: str) -> None:
    if len(data) != length:
        raise DecodeError(f"{what}: payload is {len(data)} bytes, expected {length}")


# --------------------------------------------------------------------- RuuviTag


def decode_ruuvi(data: bytes) -> Decoded:
    """RuuviTag RAWv2 (data format 5), 24 bytes after the company id 0x0499."""
    if not data:
        raise DecodeError("RuuviTag: empty payload")
    if data[0] != 5:
        raise DecodeError(
            f"RuuviTag: data format {data[0]} is not supported; only format 5 (RAWv2)"
        )
    _need(data, 24, "RuuviTag RAWv2")
    t, h, p, ax, ay, az, power, move, seq = struct.unpack(">hHHhhhHBH", data[1:18])
    mac_raw = data[18:24]
    battery, tx = power >> 5, power & 0x1F

    def acc(v: int) -> float | None:
        return None if v == -32768 else v / 1000

    values: dict[str, float | None] = {
        "temperature": None if t == -32768 else round(t * 0.005, 3),
        "humidity": None if h == 0xFFFF else round(h * 0.0025, 4),
        "pressure": None if p == 0xFFFF else float(p + 50000),
        "acc_x": acc(ax),
        "acc_y": acc(ay),
        "acc_z": acc(az),
        "battery_v": None if battery == 2047 else round((battery + 1600) / 1000, 3),
        "tx_power": None if tx == 31 else float(tx * 2 - 40),
        "movement": None if move == 255 else float(move),
    }
    mac = None if mac_raw == b"\xff" * 6 else ":".join(f"{b:02X}" for b in mac_raw)
    return Decoded("ruuvi_rawv2", values, None if seq == 0xFFFF else seq, mac)


# ---------------------------------------------------------------------- iBeacon


def decode_ibeacon(data: bytes) -> Decoded:
    """iBeacon: 0x02 0x15, UUID (16), major, minor (big-endian), measured power (int8)."""
    if len(data) < 2 or data[0] != 0x02 or data[1] != 0x15:
        raise DecodeError("iBeacon: payload must start with 02 15 (type iBeacon, 21 bytes)")
    _need(data, 23, "iBeacon")
    u = data[2:18].hex().upper()
    uuid = f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}"
    major, minor, power = struct.unpack(">HHb", data[18:23])
    return Decoded(
        "ibeacon",
        {"tx_power": float(power)},
        beacon={"uuid": uuid, "major": major, "minor": minor},
    )


# ----------------------------------------------------------------- Eddystone-TLM


def decode_eddystone(data: bytes) -> Decoded:
    """Eddystone service data (UUID 0xFEAA); only the unencrypted TLM frame (0x20, v0)."""
    if not data:
        raise DecodeError("Eddystone: empty service data")
    if data[0] != 0x20:
        names = {0x00: "UID", 0x10: "URL", 0x30: "EID", 0x40: "reserved"}
        kind = names.get(data[0], f"0x{data[0]:02X}")
        raise DecodeError(f"Eddystone: frame type {kind} carries no readings; only TLM (0x20)")
    if len(data) >= 2 and data[1] != 0x00:
        raise DecodeError(
            f"Eddystone-TLM: version {data[1]} (encrypted eTLM) is not supported; only version 0"
        )
    _need(data, 14, "Eddystone-TLM")
    battery_mv, temp_raw, adv_count, sec_count = struct.unpack(">HhII", data[2:14])
    return Decoded(
        "eddystone_tlm",
        {
            "battery_v": None if battery_mv == 0 else battery_mv / 1000,
            # 8.8 signed fixed point; 0x8000 = not supported
            "temperature": None if temp_raw == -32768 else round(temp_raw / 256, 3),
            "adv_count": float(adv_count),
            "uptime_s": round(sec_count / 10, 1),
        },
    )


# --------------------------------------------------------- generic YAML mapping

FieldType = Literal["int8", "uint8", "int16", "uint16", "int32", "uint32", "float32"]
_FORMATS = {
    "int8": "b", "uint8": "B", "int16": "h", "uint16": "H",
    "int32": "i", "uint32": "I", "float32": "f",
}  # fmt: skip


class GenericField(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: MetricName
    offset: Annotated[int, Field(ge=0, le=255)]
    type: FieldType = "int16"
    endian: Literal["little", "big"] = "little"
    scale: float = 1.0
    add: float = 0.0
    #: The raw value the device sends for "not available".
    na: int | None = None

    @property
    def size(self) -> int:
        return struct.calcsize(_FORMATS[self.type])


class GenericDecoder(BaseModel):
    """A manufacturer's data layout, from YAML: company id, an optional prefix, fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    company_id: Annotated[int, Field(ge=0, le=0xFFFF)]
    #: Hex bytes the payload must start with (a format byte, a product id).
    prefix: Annotated[str, Field(pattern=r"^([0-9A-Fa-f]{2})*$", max_length=32)] = ""
    #: Field whose raw value is the 16-bit measurement sequence (dedup), if any.
    seq_offset: Annotated[int, Field(ge=0, le=254)] | None = None
    fields: Annotated[list[GenericField], Field(min_length=1, max_length=64)]

    @model_validator(mode="after")
    def _unique(self) -> GenericDecoder:
        names = [f.metric for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("fields: each metric may appear once")
        return self

    @property
    def length(self) -> int:
        ends = [f.offset + f.size for f in self.fields]
        if self.seq_offset is not None:
            ends.append(self.seq_offset + 2)
        return max([*ends, len(self.prefix) // 2])

    def decode(self, data: bytes) -> Decoded:
        prefix = bytes.fromhex(self.prefix)
        if not data.startswith(prefix):
            raise DecodeError(f"{self.name}: payload does not start with {self.prefix.upper()}")
        if len(data) < self.length:
            raise DecodeError(
                f"{self.name}: payload is {len(data)} bytes, the mapping needs {self.length}"
            )
        values: dict[str, float | None] = {}
        for f in self.fields:
            fmt = ("<" if f.endian == "little" else ">") + _FORMATS[f.type]
            (raw,) = struct.unpack_from(fmt, data, f.offset)
            if (f.na is not None and raw == f.na) or raw != raw:  # NaN float32
                values[f.metric] = None
            else:
                value = raw * f.scale + f.add
                values[f.metric] = None if value in (float("inf"), float("-inf")) else float(value)
        seq = None
        if self.seq_offset is not None:
            (seq,) = struct.unpack_from("<H", data, self.seq_offset)
        return Decoded(self.name, values, seq)


# ---------------------------------------------------------------- dispatching


def decode_manufacturer(
    company_id: int, data: bytes, generic: list[GenericDecoder] | tuple[()] = ()
) -> Decoded:
    """Decode manufacturer data by company id (built-in decoders, then the YAML ones)."""
    if company_id == RUUVI_COMPANY:
        return decode_ruuvi(data)
    if company_id == APPLE_COMPANY:
        return decode_ibeacon(data)
    errors = []
    for decoder in generic:
        if decoder.company_id == company_id:
            try:
                return decoder.decode(data)
            except DecodeError as exc:
                errors.append(str(exc))
    if errors:
        raise DecodeError("; ".join(errors))
    raise DecodeError(
        f"no decoder for company id 0x{company_id:04X}; built in: 0x0499 (RuuviTag), "
        "0x004C (iBeacon); add a generic mapping in the ble config for others"
    )


def decode_service(uuid16: int, data: bytes) -> Decoded:
    """Decode service data by its 16-bit UUID."""
    if uuid16 == EDDYSTONE_UUID:
        return decode_eddystone(data)
    raise DecodeError(f"no decoder for service UUID 0x{uuid16:04X}; built in: 0xFEAA (Eddystone)")
