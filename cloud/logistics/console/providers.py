"""The console's provider registry: how the packages that own geofences, alarms,
waybills, capacity, fleet details and trips feed the console without the console
importing them (they are built on other branches; the lead plugs them in).

    from cloud.logistics.console.providers import register_provider
    register_provider("alarms", list_alarms)          # async (call, state) -> [dict]

Each provider is an ``async`` function whose first argument is a :class:`Call` (who
asks, which counties they see, the database, the time series, the settings). Every
row a provider returns carries ``county``; the console keeps only rows of the
caller's counties (a row without ``county``, or of another county, is dropped and
counted: isolation does not depend on the provider). With no provider registered
the console's panel says 未接入 "not connected" and the JSON says
``{"connected": false}``: nothing is made up.

The names, their signatures and the rows they answer (README.md has the contract):

| name | call | answers |
|---|---|---|
| ``fleet`` | ``(call)`` | ``[{device_id, county, plate?, name?, refrigerated?, waybill?, temp_min_c?, temp_max_c?}]`` |
| ``geofences`` | ``(call)`` | ``[{id, county, name, kind?, shape: {type: circle, lat, lon, radius_m} or {type: polygon, points: [[lat, lon], ...]}}]`` |
| ``alarms`` | ``(call, state)`` | ``[{id, county, state, severity?, subject, message, raised_at, count?, acked_by?, acked_at?, comment?, cleared_at?}]`` |
| ``alarm_ack`` | ``(call, alarm_id, comment)`` | the alarm after (``LookupError``: 404, ``ValueError``: 409) |
| ``waybills`` | ``(call, filters)`` | ``[{id, county, number, state, vehicle?, plate?, origin?, destination?, updated_at?}]`` |
| ``capacity`` | ``(call, day)`` | ``[{county, vehicle, plate?, temp_class, capacity_kg?, free_kg?, capacity_m3?, free_m3?, day}]`` |
| ``trips`` | ``(call)`` | ``[{id, county, vehicle, started_at, ended_at?}]`` (recent first) |
| ``replay`` | ``(call, trip_id)`` | ``None`` (404) or the replay contract (README.md) |
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cloud.db import Database
from cloud.settings import Settings
from cloud.timeseries import TimeSeriesStore

log = logging.getLogger(__name__)

#: The providers the console knows; registering another name is a mistake (ValueError).
NAMES = ("fleet", "geofences", "alarms", "alarm_ack", "waybills", "capacity", "trips", "replay")

Provider = Callable[..., Awaitable[Any]]
_registry: dict[str, Provider] = {}


@dataclass(frozen=True)
class Call:
    """What a provider is called with: who asks and what they may see."""

    actor: str
    role: str
    #: the counties the caller sees; None: every county (the prefecture)
    counties: list[str] | None
    db: Database
    tsdb: TimeSeriesStore
    settings: Settings

    def can_see(self, county: object) -> bool:
        return isinstance(county, str) and (self.counties is None or county in self.counties)


def register_provider(name: str, fn: Provider) -> None:
    """Register (or replace) the provider ``name`` (one of :data:`NAMES`)."""
    if name not in NAMES:
        raise ValueError(f"unknown console provider {name!r}; one of {', '.join(NAMES)}")
    _registry[name] = fn


def unregister_provider(name: str) -> None:
    _registry.pop(name, None)


def provider(name: str) -> Provider | None:
    return _registry.get(name)


def connected() -> dict[str, bool]:
    return {name: name in _registry for name in NAMES}


def scoped(call: Call, rows: Iterable[Any], what: str) -> list[dict[str, Any]]:
    """The rows of the caller's counties; others (and rows without ``county``) dropped,
    logged: a provider that answers another county's rows has a bug, and this is where
    it stops."""
    kept: list[dict[str, Any]] = []
    dropped = 0
    for row in rows:
        if isinstance(row, dict) and call.can_see(row.get("county")):
            kept.append(row)
        else:
            dropped += 1
    if dropped:
        log.warning("console: %s provider answered %d row(s) outside %s", what, dropped, call.actor)
    return kept
