"""The fleet file (YAML or JSON): vehicles, their trackers, routes and schedules.

See ``simulators/fleet.sample.yaml`` and the README's "Fleet" section.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from protocol.ids import COUNTY_CODES, check_device_id, check_gateway_id

PHONE_FORMS = ("query", "query_post", "json")
FAIL_RE = re.compile(r"^(?P<vehicle>[A-Za-z0-9][A-Za-z0-9._:-]*)@(?P<minute>\d+(\.\d+)?)$")


class FleetConfigError(ValueError):
    """A fleet file that cannot be used; the message names the field and the reason."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reefer(_Model):
    commodity: str = "fruit"
    #: the allowed band of the compartment air, degC; the unit holds the middle
    low_c: float = 2.0
    high_c: float = 8.0
    setpoint_c: float | None = None

    @model_validator(mode="after")
    def _band(self) -> Reefer:
        if self.low_c >= self.high_c:
            raise ValueError(f"low_c ({self.low_c}) must be below high_c ({self.high_c})")
        if self.setpoint_c is None:
            self.setpoint_c = (self.low_c + self.high_c) / 2
        return self


class Phone(_Model):
    """A phone running OsmAnd or Traccar Client: its tracker id is its only credential."""

    tracker_id: Annotated[str, Field(min_length=1, max_length=128)]
    #: query: GET /?id=..; query_post: the same keys form-encoded in a POST; json:
    #: Traccar Client's JSON body
    form: Literal["query", "query_post", "json"] = "query"
    interval_s: Annotated[float, Field(gt=0, le=3600)] = 15.0
    #: query form only: epoch seconds, epoch ms or ISO-8601
    timestamp: Literal["seconds", "millis", "iso"] = "seconds"
    #: send the reefer probe as ``temp1`` (a BLE probe paired to the phone)
    temp1: bool | None = None
    charging: bool = True


class TruckGateway(_Model):
    """A Pi in the truck: publishes the vehicle's readings over MQTT (edge gateway)."""

    id: str
    interval_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    username: str | None = None
    #: demo only; else password_env / password_file
    password: str | None = None
    password_env: str | None = None
    password_file: Path | None = None

    @model_validator(mode="after")
    def _id(self) -> TruckGateway:
        check_gateway_id(self.id)
        return self

    def secret(self) -> str | None:
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ValueError(f"gateway {self.id}: ${self.password_env} is not set")
            return value
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return self.password


class Vehicle(_Model):
    #: the registered vehicle id (the device id on the wire)
    id: str
    county: Literal["533103", "533124", "533123", "533122"]
    plate: str = ""
    #: place ids of roads.json: the depot first, then every drop in order
    route: Annotated[list[str], Field(min_length=2)]
    depart_min: Annotated[float, Field(ge=0)] = 0.0
    dwell_min: Annotated[float, Field(gt=0, le=240)] = 8.0
    door_min: Annotated[float, Field(ge=0, le=60)] = 4.0
    reefer: Reefer | None = None
    phone: Phone | None = None
    gateway: TruckGateway | None = None

    @model_validator(mode="after")
    def _check(self) -> Vehicle:
        check_device_id(self.id)
        if self.phone is None and self.gateway is None:
            raise ValueError("a vehicle needs a phone, a gateway or both")
        if self.door_min >= self.dwell_min:
            raise ValueError(f"door_min ({self.door_min}) must be below dwell_min")
        return self


class Fleet(_Model):
    ambient_c: float = 28.0
    vehicles: Annotated[list[Vehicle], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> Fleet:
        for what, values in (
            ("vehicle id", [v.id for v in self.vehicles]),
            ("tracker_id", [v.phone.tracker_id for v in self.vehicles if v.phone]),
            ("gateway id", [v.gateway.id for v in self.vehicles if v.gateway]),
        ):
            dup = {x for x in values if values.count(x) > 1}
            if dup:
                raise ValueError(f"duplicate {what}: {', '.join(sorted(dup))}")
        return self

    def vehicle(self, vehicle_id: str) -> Vehicle:
        for v in self.vehicles:
            if v.id == vehicle_id:
                return v
        raise FleetConfigError(
            f"unknown vehicle {vehicle_id!r}; the fleet has {', '.join(v.id for v in self.vehicles)}"
        )


def parse_fleet(data: object, source: str = "<fleet>") -> Fleet:
    from simulators.fleet.routes import load_network

    try:
        fleet = Fleet.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FleetConfigError(f"{source}: {where}: {first['msg']}") from None
    net = load_network()
    for i, v in enumerate(fleet.vehicles):
        for place in v.route:
            if place not in net.places:
                raise FleetConfigError(
                    f"{source}: vehicles.{i}.route: unknown place {place!r}; "
                    f"known: {', '.join(sorted(net.places))}"
                )
        assert v.county in COUNTY_CODES
    return fleet


def load_fleet(path: str | Path) -> Fleet:
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FleetConfigError(f"cannot read fleet file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as exc:
        raise FleetConfigError(f"{path}: not YAML/JSON: {exc}") from None
    return parse_fleet(data, str(path))


def parse_failure(spec: str) -> tuple[str, float]:
    """``VEHICLE@MINUTE`` -> (vehicle id, minutes after the simulated start)."""
    m = FAIL_RE.match(spec)
    if not m:
        raise FleetConfigError(
            f"--fail-reefer {spec!r}: expected VEHICLE@MINUTE, e.g. veh-lc-01@90"
        )
    return m["vehicle"], float(m["minute"])
