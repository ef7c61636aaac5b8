"""Camera triggers: a Modbus input that switches on (a tray under the camera, a lot
card at the conveyor) makes the camera inspect now, besides its interval.

Watches the samples as the drivers hand them over, like the local rules, so it
works offline. An edge is a change across 0.5 between two readings of the same
metric; the first reading only sets the level (a switch already on at start-up
is not a new tray).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from edge.config import CameraSpec, GatewayConfig
from edge.drivers.base import Driver, Sample

log = logging.getLogger(__name__)


class CameraTriggers:
    def __init__(self, config: GatewayConfig) -> None:
        self._by_device: dict[str, list[CameraSpec]] = {}
        for cam in config.cameras:
            if cam.trigger is not None:
                wire = config.device_id(cam.trigger.device)
                self._by_device.setdefault(wire, []).append(cam)
        self._gateway = config.gateway.id
        self._last: dict[tuple[str, str], bool] = {}
        self.fired = 0

    def observe(self, sample: Sample, drivers: Iterable[Driver]) -> None:
        cams = self._by_device.get(sample.device)
        if not cams:
            return
        for cam in cams:
            assert cam.trigger is not None
            value = sample.values.get(cam.trigger.metric)
            if value is None:
                continue
            on = value > 0.5
            key = (cam.id, cam.trigger.metric)
            before = self._last.get(key)
            self._last[key] = on
            if before is None or before == on:
                continue
            if on != (cam.trigger.edge == "rising"):
                continue
            self._fire(cam, drivers)

    def _fire(self, cam: CameraSpec, drivers: Iterable[Driver]) -> None:
        from edge.drivers.camera import CameraDriver

        device = f"{self._gateway}.{cam.id}"
        for driver in drivers:
            if isinstance(driver, CameraDriver) and driver.config.device == device:
                self.fired += 1
                log.info("camera %s triggered by %s", device, cam.trigger)
                driver.trigger()
                return
        log.warning("camera %s: triggered, but its driver is not running", device)
