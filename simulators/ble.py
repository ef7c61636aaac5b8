"""Simulated BLE advertisers: the exact bytes real tags send, without a radio.

The encoders here are written from the formats' specifications and share no
code with the gateway's decoders (``edge/drivers/ble_decode.py``), so a test
that round-trips through both checks one against the other:

- RuuviTag data format 5 (RAWv2), company id 0x0499;
- Apple iBeacon, company id 0x004C;
- Eddystone-TLM service data on UUID 0xFEAA.

:class:`SimulatedAir` is a scanner backend for the BLE driver: it "hears" a set
of simulated tags, each advertising every ``interval_s`` and repeating each
measurement ``repeats`` times (as a RuuviTag does), with RSSI noise.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

EDDYSTONE_KEY = "0000feaa-0000-1000-8000-00805f9b34fb"


def _u16(value: int) -> bytes:
    return (value & 0xFFFF).to_bytes(2, "big")


def _s16(value: int) -> bytes:
    return value.to_bytes(2, "big", signed=True)


def ruuvi_rawv2(
    *,
    temperature_c: float | None,
    humidity_pct: float | None,
    pressure_pa: int | None,
    acc_mg: tuple[int | None, int | None, int | None] = (0, 0, 1000),
    battery_mv: int | None = 3000,
    tx_dbm: int | None = 4,
    movement: int | None = 0,
    seq: int | None = 0,
    mac: str | None = "CB:B8:33:4C:88:4F",
) -> bytes:
    """The 24 bytes after the company id, with the format's not-available markers."""
    out = bytearray([0x05])
    out += b"\x80\x00" if temperature_c is None else _s16(round(temperature_c / 0.005))
    out += b"\xff\xff" if humidity_pct is None else _u16(round(humidity_pct / 0.0025))
    out += b"\xff\xff" if pressure_pa is None else _u16(pressure_pa - 50000)
    for axis in acc_mg:
        out += b"\x80\x00" if axis is None else _s16(axis)
    volt_bits = 2047 if battery_mv is None else battery_mv - 1600
    tx_bits = 31 if tx_dbm is None else (tx_dbm + 40) // 2
    out += _u16((volt_bits << 5) | tx_bits)
    out.append(255 if movement is None else movement & 0xFF)
    out += b"\xff\xff" if seq is None else _u16(seq)
    out += b"\xff" * 6 if mac is None else bytes(int(x, 16) for x in mac.split(":"))
    return bytes(out)


def ibeacon(uuid: str, major: int, minor: int, measured_power: int = -59) -> bytes:
    """The 23 bytes after Apple's company id."""
    return (
        b"\x02\x15"
        + bytes.fromhex(uuid.replace("-", ""))
        + major.to_bytes(2, "big")
        + minor.to_bytes(2, "big")
        + measured_power.to_bytes(1, "big", signed=True)
    )


def eddystone_tlm(
    battery_mv: int, temperature_c: float | None, adv_count: int, uptime_s: float
) -> bytes:
    """Unencrypted TLM frame: type 0x20, version 0, VBATT, TEMP (8.8), ADV_CNT, SEC_CNT."""
    temp = b"\x80\x00" if temperature_c is None else _s16(round(temperature_c * 256))
    return (
        b"\x20\x00"
        + _u16(battery_mv)
        + temp
        + adv_count.to_bytes(4, "big")
        + round(uptime_s * 10).to_bytes(4, "big")
    )


@dataclass
class SimTag:
    """One simulated tag; ``temperature`` drifts a little with every measurement."""

    mac: str
    kind: str = "ruuvi"  # ruuvi | ibeacon | eddystone
    temperature: float = 4.0
    humidity: float = 85.0
    seq: int = 0
    battery_mv: int = 2950
    rssi: int = -70
    uuid: str = "FDA50693-A4E2-4FB1-AFCF-C6EB07647825"
    major: int = 1
    minor: int = 1
    adv_count: int = 0
    uptime_s: float = 0.0
    #: Measurements are repeated in this many advertisements (dedup fodder).
    repeats: int = 2
    measurements: int = 0
    silent: bool = False  # out of range / battery dead: heard by nobody
    _rng: random.Random = field(default_factory=lambda: random.Random(1))

    def measure(self) -> None:
        self.measurements += 1
        self.seq = (self.seq + 1) & 0xFFFF
        self.temperature = round(self.temperature + self._rng.gauss(0, 0.05), 2)
        self.adv_count += 1
        self.uptime_s += 1.0

    def advertisement(self) -> dict[str, Any]:
        """What bleak would report: address, rssi, manufacturer_data, service_data."""
        rssi = self.rssi + self._rng.randint(-3, 3)
        if self.kind == "ruuvi":
            data = ruuvi_rawv2(
                temperature_c=self.temperature, humidity_pct=self.humidity, pressure_pa=100_500,
                battery_mv=self.battery_mv, seq=self.seq, mac=self.mac,
            )  # fmt: skip
            return {"address": self.mac, "rssi": rssi, "manufacturer_data": {0x0499: data}}
        if self.kind == "ibeacon":
            data = ibeacon(self.uuid, self.major, self.minor)
            return {"address": self.mac, "rssi": rssi, "manufacturer_data": {0x004C: data}}
        tlm = eddystone_tlm(self.battery_mv, self.temperature, self.adv_count, self.uptime_s)
        return {"address": self.mac, "rssi": rssi, "service_data": {EDDYSTONE_KEY: tlm}}


class SimulatedAir:
    """A scanner backend hearing simulated tags; one measurement per tag per ``interval_s``."""

    def __init__(self, tags: list[SimTag], interval_s: float = 1.0) -> None:
        self.tags = tags
        self.interval_s = interval_s
        self.sent = 0

    @classmethod
    def demo(cls) -> SimulatedAir:
        return cls(
            [
                SimTag("C0:FF:EE:00:00:01", temperature=1.2),  # lychee room
                SimTag("C0:FF:EE:00:00:02", temperature=11.0),  # mango room
                SimTag("C0:FF:EE:00:00:03", kind="eddystone", temperature=17.5),
            ]
        )

    async def run(self, deliver: Callable[[Any], None]) -> None:
        from edge.drivers.ble import Advertisement

        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            for tag in self.tags:
                tag.measure()
                if tag.silent:
                    continue
                for _ in range(tag.repeats):
                    deliver(Advertisement(**tag.advertisement()))
                    self.sent += 1
            deadline += self.interval_s
            await asyncio.sleep(max(0.0, deadline - loop.time()))
