"""BLE driver: temperature tags heard in advertisements, no connections.

- The scanner is a swappable backend: :class:`BleakBackend` (bleak's
  ``BleakScanner`` with a detection callback, i.e. advertisement mode) on a
  gateway with a radio. Without one (CI, the demo) the runner injects a backend
  (``simulators.ble.SimulatedAir`` from ``dehong sim gateway`` or a test); this
  module never imports a simulator.
- Each advertisement is decoded (see :mod:`edge.drivers.ble_decode`): RuuviTag
  RAWv2, iBeacon, Eddystone-TLM, generic YAML mappings. Undecodable ones (the
  phones walking past) are counted and ignored.
- Allow-lists by MAC or by iBeacon UUID (both empty: every decodable tag).
- De-duplication by the tag's 16-bit measurement sequence: a tag repeats each
  measurement in several advertisements; the sequence wraps at 65536 and
  restarts when the tag reboots. A sequence 1..32767 ahead (mod 65536) is new;
  equal is a repeat; one behind is a reboot when it is small (< 256) or the tag
  was silent past its timeout, otherwise a stale repeat. Tags without a sequence
  are recorded at most every ``min_interval_s``.
- RSSI with every sample; battery voltage where the format has it.
- A tag not heard within its timeout is reported missing (``device_down``), and
  back (``device_up``) when heard again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from edge.aio import cancel_all
from edge.config import BleTag, GatewayConfig
from edge.drivers.base import Driver, Sample, Sink
from edge.drivers.ble_decode import Decoded, DecodeError, decode_manufacturer, decode_service
from protocol.messages import AssetKind, EventMessage, EventType, InventoryItem, Severity

log = logging.getLogger(__name__)

#: A sequence this small after a larger one means the tag rebooted.
RESET_BELOW = 256
#: Bluetooth base UUID: 16-bit UUIDs appear as 0000xxxx-0000-1000-8000-00805f9b34fb.
BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"


@dataclass(frozen=True, slots=True)
class Advertisement:
    """What the radio heard, in bleak's terms."""

    address: str
    rssi: int
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    #: Keyed by UUID string (128-bit form, as bleak gives it).
    service_data: dict[str, bytes] = field(default_factory=dict)


class ScannerBackend(Protocol):
    async def run(self, deliver: Callable[[Advertisement], None]) -> None:
        """Deliver advertisements until cancelled."""


class BleakBackend:
    """bleak's BleakScanner in advertisement mode (a detection callback, no connections)."""

    def __init__(self, scanning_mode: str = "passive") -> None:
        self.scanning_mode = scanning_mode

    async def run(self, deliver: Callable[[Advertisement], None]) -> None:
        from bleak import BleakScanner

        def on_detect(device: Any, adv: Any) -> None:
            deliver(
                Advertisement(
                    address=str(device.address).upper(),
                    rssi=int(adv.rssi),
                    manufacturer_data={int(k): bytes(v) for k, v in adv.manufacturer_data.items()},
                    service_data={str(k).lower(): bytes(v) for k, v in adv.service_data.items()},
                )
            )

        kwargs: dict[str, Any] = {"detection_callback": on_detect}
        if self.scanning_mode == "passive":
            from bleak.args.bluez import BlueZScannerArgs, OrPattern
            from bleak.assigned_numbers import AdvertisementDataType

            # BlueZ passive scanning needs at least one pattern: manufacturer data and service data
            kwargs["scanning_mode"] = "passive"
            kwargs["bluez"] = BlueZScannerArgs(
                or_patterns=[
                    OrPattern(0, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA, b"\x99\x04"),
                    OrPattern(0, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA, b"\x4c\x00"),
                    OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, b"\xaa\xfe"),
                ]
            )
        async with BleakScanner(**kwargs):
            await asyncio.Event().wait()


def uuid16(key: str) -> int | None:
    """The 16-bit UUID of a service-data key, None for a full 128-bit UUID."""
    key = key.lower()
    if len(key) == 4:
        return int(key, 16)
    if key.startswith("0000") and key.endswith(BASE_UUID_SUFFIX):
        return int(key[4:8], 16)
    return None


def is_new_seq(last: int | None, seq: int, silent_past_timeout: bool) -> bool:
    """Whether measurement ``seq`` is new after ``last`` (16-bit, wraps, resets)."""
    if last is None:
        return True
    ahead = (seq - last) % 65536
    if ahead == 0:
        return False
    if ahead < 32768:
        return True
    return seq < RESET_BELOW or silent_past_timeout  # behind: a reboot, or a stale repeat


@dataclass(slots=True)
class TagState:
    last_seq: int | None = None
    last_heard: float = 0.0
    last_sample: float = 0.0
    state: str = "unknown"


class BleDriver(Driver):
    """Records BLE tags from a scanner backend."""

    name = "ble"

    def __init__(
        self,
        config: GatewayConfig,
        backend: ScannerBackend | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.ble = config.ble
        self.backend = backend if backend is not None else default_backend(config)
        self.clock = clock
        self.tags: dict[str, TagState] = {}
        self.per_tag: dict[str, BleTag] = {t.id.upper(): t for t in self.ble.tags}
        self.allow_macs = {m.upper() for m in self.ble.allow_macs}
        self.allow_uuids = {u.upper() for u in self.ble.allow_uuids}
        self.heard = 0
        self.undecodable = 0
        self.not_allowed = 0
        self.duplicates = 0
        self._sink: Sink | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()

    # ----------------------------------------------------------------- flow

    async def start(self, sink: Sink) -> None:
        if self._tasks:
            raise RuntimeError("ble driver already started")
        self._sink = sink
        self._tasks = [
            asyncio.create_task(self._scan(), name="ble scan"),
            asyncio.create_task(self._watch_missing(), name="ble missing"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel_all(tasks)

    async def _scan(self) -> None:
        await self.backend.run(self.on_advertisement)

    def _decode(self, adv: Advertisement) -> Decoded | None:
        for company, data in adv.manufacturer_data.items():
            try:
                return decode_manufacturer(company, data, self.ble.decoders)
            except DecodeError as exc:
                log.debug("ble %s: %s", adv.address, exc)
        for key, data in adv.service_data.items():
            short = uuid16(key)
            if short is None:
                continue
            try:
                return decode_service(short, data)
            except DecodeError as exc:
                log.debug("ble %s: %s", adv.address, exc)
        return None

    def _timeout(self, device: str) -> float:
        tag = self.per_tag.get(device.upper())
        return tag.timeout_s if tag and tag.timeout_s else self.ble.missing_timeout_s

    def on_advertisement(self, adv: Advertisement) -> None:
        """One advertisement from the backend: filter, decode, de-duplicate, deliver."""
        self.heard += 1
        decoded = self._decode(adv)
        if decoded is None:
            self.undecodable += 1
            return
        mac = adv.address.upper()
        uuid = str(decoded.beacon.get("uuid", ""))
        if (self.allow_macs or self.allow_uuids) and not (
            mac in self.allow_macs or uuid in self.allow_uuids
        ):
            self.not_allowed += 1
            return
        device = f"{uuid}.{decoded.beacon['major']}.{decoded.beacon['minor']}" if uuid else mac
        now = self.clock()
        tag = self.tags.setdefault(device, TagState())
        silent = tag.last_heard > 0 and now - tag.last_heard > self._timeout(device)
        tag.last_heard = now
        if decoded.seq is not None:
            if not is_new_seq(tag.last_seq, decoded.seq, silent):
                self.duplicates += 1
                self._mark(device, up=True)
                return
            tag.last_seq = decoded.seq
        elif tag.last_sample and now - tag.last_sample < self.ble.min_interval_s:
            self.duplicates += 1
            self._mark(device, up=True)
            return
        tag.last_sample = now
        self._mark(device, up=True)
        values = dict(decoded.values)
        values["rssi"] = float(adv.rssi)
        per = self.per_tag.get(device.upper())
        if self._sink is not None:
            self._sink.put_sample(
                Sample(
                    device=device,
                    ts_ms=time.time_ns() // 1_000_000,
                    values=values,
                    kind=AssetKind.BLE_TAG,
                    site=(per.site if per and per.site else None) or self.config.gateway.site,
                )
            )
        self._changed.set()

    # --------------------------------------------------------- missing tags

    def _mark(self, device: str, up: bool, reason: str = "") -> None:
        tag = self.tags[device]
        after = "up" if up else "down"
        if tag.state == after:
            return
        first = tag.state == "unknown"
        tag.state = after
        if first and up:
            return  # a tag heard for the first time is news only in the inventory
        log.log(
            logging.INFO if up else logging.WARNING, "ble tag %s is %s %s", device, after, reason
        )
        if self._sink is not None:
            self._sink.put_event(
                EventMessage(
                    gw=self.config.gateway.id,
                    id=secrets.token_urlsafe(12),
                    ts=time.time_ns() // 1_000_000,
                    type=EventType.DEVICE_UP if up else EventType.DEVICE_DOWN,
                    device=device,
                    severity=Severity.INFO if up else Severity.WARNING,
                    message=(reason or "heard again")[:500],
                    attrs={"driver": "ble"},
                )
            )

    def check_missing(self) -> float | None:
        """Mark tags silent past their timeout missing; return the next deadline."""
        now = self.clock()
        next_deadline: float | None = None
        for device, tag in self.tags.items():
            deadline = tag.last_heard + self._timeout(device)
            if tag.state == "up" and now >= deadline:
                self._mark(
                    device, up=False, reason=f"missing: not heard for {self._timeout(device):.0f} s"
                )
            elif tag.state == "up":
                next_deadline = deadline if next_deadline is None else min(next_deadline, deadline)
        return next_deadline

    async def _watch_missing(self) -> None:
        from edge.aio import wait_event

        while True:
            self._changed.clear()
            deadline = self.check_missing()
            timeout = None if deadline is None else max(0.0, deadline - self.clock())
            await wait_event(self._changed, timeout)

    # -------------------------------------------------------------- reports

    def inventory(self) -> list[InventoryItem]:
        return [
            InventoryItem(
                device=d, kind=AssetKind.BLE_TAG, driver=self.name, site=self.config.gateway.site
            )
            for d in self.tags
        ]

    def status(self) -> dict[str, str]:
        return {d: t.state for d, t in self.tags.items()}


#: Makes a scanner backend for a config: how a runner injects one (the simulated air).
BackendFactory = Callable[[GatewayConfig], ScannerBackend]


class NoBackend(ValueError):
    """``ble.backend: simulated`` without a simulated air injected by the runner."""


def default_backend(config: GatewayConfig) -> ScannerBackend:
    """The radio (bleak). Production code never builds a simulator: ``simulated``
    needs its backend injected (``dehong sim gateway``, the tests)."""
    if config.ble.backend == "simulated":
        raise NoBackend(
            "ble.backend: 'simulated' has no radio and edge/ ships no simulator; run this "
            "config with `dehong sim gateway --config FILE` (it injects the simulated air), "
            "or set backend: bleak on a gateway with a Bluetooth adapter"
        )
    return BleakBackend(config.ble.scanning_mode)
