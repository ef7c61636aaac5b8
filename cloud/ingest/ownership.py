"""Whose reading is it: the device-id rule and the county a reading is stored under.

- A fixed device (cold room, camera, sensor node, gateway health) is wired to one
  gateway and is named ``{gateway}.{local}``; only that gateway may report it, and its
  readings belong to the gateway's county. An undotted id of a fixed kind is refused:
  "room-1" exists on every gateway.
- A mobile device (a BLE tag, a vehicle) keeps its own id whichever gateway hears it.
  Registered to an organisation (``cloud.catalog``), its readings belong to the
  owner's county, whoever heard them. Not registered, each reading belongs to the
  county of the gateway that heard it, and the device to the county that heard it
  last: never to whoever heard it first.
- No id may borrow another registered gateway's prefix (``gw-l1.x`` from ``gw-m1``).
"""

from __future__ import annotations

from collections.abc import Mapping

from cloud.catalog.owners import Owner
from cloud.ingest.convert import MOBILE_KINDS
from cloud.ingest.registry import Registry
from protocol.messages import Series


async def refusal(series: Series, gw: str, registry: Registry) -> str | None:
    """Why ``gw`` may not report this series' device (None: it may)."""
    device = series.device
    prefix, dot, _ = device.partition(".")
    if series.kind not in MOBILE_KINDS:
        if not dot:
            return (
                f"device {device!r} ({series.kind.value}) has no gateway prefix: a gateway "
                f"reports its wired devices as '{gw}.<local>'; only ble_tag and vehicle "
                "devices use their own ids"
            )
        if prefix != gw:
            return (
                f"device {device!r} belongs to gateway {prefix!r}; a gateway reports its "
                f"own devices as '{gw}.<local>' or a tag's or vehicle's own id"
            )
        return None
    if dot and prefix != gw and await registry.gateway(prefix) is not None:
        return (
            f"device {device!r} is named after gateway {prefix!r}; a {series.kind.value} "
            f"is reported under its own id (a MAC, an iBeacon uuid.major.minor, a plate)"
        )
    return None


def reading_county(series: Series, gateway_county: str, owners: Mapping[str, Owner | None]) -> str:
    """The county tag of the series' readings: the owner's for a registered mobile
    device, else the county of the gateway that sent them."""
    if series.kind in MOBILE_KINDS:
        owner = owners.get(series.device)
        if owner is not None:
            return owner.county
    return gateway_county
