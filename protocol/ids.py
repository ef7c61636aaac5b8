"""Identifiers: county codes (GB/T 2260), gateway ids, device ids, metric names."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

PREFECTURE = "533100"

#: GB/T 2260 division codes of the prefecture and its four county sub-systems.
COUNTIES: dict[str, tuple[str, str]] = {
    "533100": ("Dehong prefecture", "德宏州"),
    "533103": ("Mangshi", "芒市"),
    "533124": ("Longchuan", "陇川县"),
    "533123": ("Yingjiang", "盈江县"),
    "533122": ("Lianghe", "梁河县"),
}
#: The counties that own gateways, devices and records (the prefecture owns none itself).
COUNTY_CODES: tuple[str, ...] = ("533103", "533124", "533123", "533122")

GATEWAY_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,47}$")
# A device id is a BLE MAC (AA:BB:CC:DD:EE:FF), "{gateway}.{local}" or a registered id.
DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
LOCAL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_:-]{0,63}$")
METRIC_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def check_county(code: str) -> str:
    if code not in COUNTIES:
        raise ValueError(
            f"unknown county code {code!r}; use a GB/T 2260 code: {', '.join(COUNTIES)}"
        )
    return code


def check_owning_county(code: str) -> str:
    check_county(code)
    if code not in COUNTY_CODES:
        raise ValueError(f"{code!r} is the prefecture; records belong to one of {COUNTY_CODES}")
    return code


def check_gateway_id(value: str) -> str:
    if not GATEWAY_ID_RE.match(value):
        raise ValueError(
            f"invalid gateway id {value!r}: use 2-48 characters of a-z, 0-9 and '-', "
            "starting with a letter or digit"
        )
    return value


def check_device_id(value: str) -> str:
    if not DEVICE_ID_RE.match(value):
        raise ValueError(
            f"invalid device id {value!r}: use 1-128 characters of A-Z a-z 0-9 . _ : -"
        )
    return value


def check_metric(value: str) -> str:
    # "__" is reserved: the time-series store keeps a metric's quality flags as "{metric}__q".
    if not METRIC_RE.match(value) or "__" in value:
        raise ValueError(
            f"invalid metric name {value!r}: use 1-32 characters of a-z, 0-9 and '_', "
            "starting with a letter, without '__'"
        )
    return value


def device_id(gateway: str, local: str) -> str:
    """The global id of a device wired to one gateway: ``{gateway}.{local}``."""
    check_gateway_id(gateway)
    if not LOCAL_ID_RE.match(local):
        raise ValueError(f"invalid local device id {local!r}: use A-Z a-z 0-9 _ : -")
    return f"{gateway}.{local}"


CountyCode = Annotated[str, AfterValidator(check_county)]
OwningCounty = Annotated[str, AfterValidator(check_owning_county)]
GatewayId = Annotated[str, AfterValidator(check_gateway_id)]
DeviceId = Annotated[str, AfterValidator(check_device_id)]
MetricName = Annotated[str, AfterValidator(check_metric)]
