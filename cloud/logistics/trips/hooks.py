"""The geofence-enter hook: callbacks called for each *new* enter event at a catalog
location (one not stored before the recompute), in the recompute's session and
transaction. The waybills package registers one that marks a waybill arrived when the
location is its destination (``mark_arrived``); this package imports nothing of it.

A callback that raises is logged and counted (:data:`failures`); the recompute and the
other callbacks go on, and the event stays stored (the callback's own work is rolled
back only if it used a savepoint: wrap it in ``session.begin_nested()``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EnterEvent:
    """What a callback is told: the vehicle (its device id) entered ``location_id``'s
    geofence ``fence_id`` at ``at`` (the confirming fix; ``since`` the first fix inside),
    with the event's id."""

    event_id: int
    vehicle: str
    county: str
    fence_id: int
    location_id: int
    at: datetime
    since: datetime
    lat: float
    lon: float


EnterCallback = Callable[[AsyncSession, EnterEvent], Awaitable[None]]

_callbacks: list[EnterCallback] = []
#: Callback failures since start (name -> count).
failures: dict[str, int] = {}


def on_enter(callback: EnterCallback) -> EnterCallback:
    """Register ``callback`` (usable as a decorator); registering it twice is one."""
    if callback not in _callbacks:
        _callbacks.append(callback)
    return callback


def remove(callback: EnterCallback) -> None:
    if callback in _callbacks:
        _callbacks.remove(callback)


def registered() -> list[EnterCallback]:
    return list(_callbacks)


async def fire(session: AsyncSession, event: EnterEvent) -> None:
    for cb in list(_callbacks):
        name = getattr(cb, "__qualname__", repr(cb))
        try:
            await cb(session, event)
        except Exception:
            failures[name] = failures.get(name, 0) + 1
            log.exception("geofence enter callback %s failed for event %s", name, event.event_id)
