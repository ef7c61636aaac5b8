"""One truck's deterministic stream of reports, in simulated time.

Everything random comes from ``random.Random(f"{seed}:{vehicle}:{stream}")``,
one stream per concern (motion, each GPS receiver, reefer, battery), so the
same seed gives the same reports whatever the wall clock or the network did,
and adding a vehicle changes no other vehicle's reports.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from simulators.fleet import metrics
from simulators.fleet.config import Fleet, Vehicle
from simulators.fleet.gps import GpsReceiver
from simulators.fleet.motion import Plan, Truth, truths
from simulators.fleet.osmand import Report
from simulators.fleet.reefer import Reefer
from simulators.fleet.routes import load_network

#: The gateway's truck battery (state of charge) wanders in this band, percent.
TRUCK_BATTERY_PCT = (92.0, 100.0)


@dataclass(frozen=True, slots=True)
class Emission:
    kind: str  # "phone" or "gateway"
    t_ms: int
    #: False in tunnels and no-signal stretches: the report waits on the device
    online: bool
    truth: Truth
    report: Report | None = None  # phone (None: no fix, nothing to report)
    values: dict[str, float | None] | None = None  # gateway


def _rng(seed: int, vehicle: str, stream: str) -> random.Random:
    return random.Random(f"{seed}:{vehicle}:{stream}")


class TruckSim:
    def __init__(
        self,
        vehicle: Vehicle,
        fleet: Fleet,
        seed: int,
        start_ms: int,
        fail_min: float | None = None,
    ) -> None:
        self.vehicle = vehicle
        self.start_ms = start_ms
        v = vehicle
        self.plan = Plan(v.route, v.depart_min * 60.0, v.dwell_min * 60.0, v.door_min * 60.0)
        self._motion = truths(self.plan, load_network(), _rng(seed, v.id, "motion"), start_ms)
        self.reefer: Reefer | None = None
        if v.reefer is not None:
            fail_at = None if fail_min is None else start_ms + int(fail_min * 60_000)
            assert v.reefer.setpoint_c is not None
            self.reefer = Reefer(
                v.reefer.setpoint_c, fleet.ambient_c, _rng(seed, v.id, "reefer"), fail_at
            )
        self.phone_gps = GpsReceiver(_rng(seed, v.id, "phone-gps"))
        self.gw_gps = GpsReceiver(_rng(seed, v.id, "gateway-gps"))
        brng = _rng(seed, v.id, "battery")
        self.phone_battery = brng.uniform(0.55, 0.95)
        self.truck_battery = brng.uniform(*TRUCK_BATTERY_PCT)
        self._brng = brng
        self.phone_temp1 = False
        if v.phone is not None:
            want = v.phone.temp1
            self.phone_temp1 = (
                (v.reefer is not None and v.gateway is None) if want is None else want
            )
            self.phone_temp1 = self.phone_temp1 and v.reefer is not None

    def emissions(self) -> Iterator[Emission]:
        """Reports in time order, forever (the truck parks after its last drop)."""
        v = self.vehicle
        phone_every = int(v.phone.interval_s * 1000) if v.phone else 0
        gw_every = int(v.gateway.interval_s * 1000) if v.gateway else 0
        last_ms = self.start_ms
        for truth in self._motion:
            dt_s = (truth.t_ms - last_ms) / 1000.0
            last_ms = truth.t_ms
            self._step(truth, dt_s)
            elapsed = truth.t_ms - self.start_ms
            online = truth.gap is None
            if gw_every and elapsed % gw_every == 0:
                yield Emission("gateway", truth.t_ms, online, truth, values=self._values(truth))
            if phone_every and elapsed % phone_every == 0:
                fix = self.phone_gps.fix(truth)
                if fix is not None:
                    assert v.phone is not None
                    temp = self.reefer.probe() if self.reefer and self.phone_temp1 else None
                    report = Report(
                        fix, self.phone_battery, v.phone.charging, truth.odometer_m, temp
                    )
                    yield Emission("phone", truth.t_ms, online, truth, report=report)

    def _step(self, truth: Truth, dt_s: float) -> None:
        if self.reefer is not None:
            self.reefer.step(truth.t_ms, dt_s, truth.door_open)
        if self.vehicle.phone is not None:
            rate = 0.10 if self.vehicle.phone.charging else -0.04  # per hour
            self.phone_battery = min(1.0, max(0.05, self.phone_battery + rate * dt_s / 3600))
        lo, hi = TRUCK_BATTERY_PCT
        self.truck_battery = min(hi, max(lo, self.truck_battery + self._brng.gauss(0, 0.002)))

    def _values(self, truth: Truth) -> dict[str, float | None]:
        values: dict[str, float | None] = {}
        fix = self.gw_gps.fix(truth)
        if fix is not None:  # no fix in a tunnel: the reefer still reads
            values[metrics.LAT] = fix.lat
            values[metrics.LON] = fix.lon
            values[metrics.SPEED_KMH] = round(fix.speed_ms * 3.6, 1)
            values[metrics.COURSE_DEG] = fix.course
            values[metrics.ALT_M] = fix.alt
            values[metrics.ACCURACY_M] = fix.accuracy_m
        values[metrics.BATTERY_PCT] = round(self.truck_battery, 1)
        if self.reefer is not None:
            values[metrics.TEMP1] = self.reefer.probe()
            values[metrics.DOOR] = 1.0 if truth.door_open else 0.0
        return values


def trip_end_offset_ms(vehicle: Vehicle, fleet: Fleet, seed: int) -> int:
    """How long after the start the vehicle's trip ends (parked after its last dwell)."""
    v = vehicle
    plan = Plan(v.route, v.depart_min * 60.0, v.dwell_min * 60.0, v.door_min * 60.0)
    for truth in truths(plan, load_network(), _rng(seed, v.id, "motion"), 0):
        if truth.done:
            return truth.t_ms
    raise AssertionError("unreachable: truths() ends parked")
