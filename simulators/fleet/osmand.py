"""A phone reporting over Traccar's OsmAnd protocol, with an offline queue.

Single fixes go to the server URL (``--osmand-url``, the URL typed into the
app), one request each, in the phone's form:

- ``query``: ``GET {url}?id=..&timestamp=..&lat=..&lon=..&speed=..&bearing=..
  &altitude=..&accuracy=..&batt=..&charge=..[&temp1=..]`` (the OsmAnd app's form;
  speed in m/s as the app sends it; batt in percent);
- ``query_post``: the same keys form-encoded in a ``POST`` body
  (``application/x-www-form-urlencoded``);
- ``json``: ``POST {url}`` with Traccar Client's JSON body (``device_id``,
  ``location.timestamp`` ISO-8601 UTC, ``location.coords.{latitude, longitude,
  speed (m/s), heading, altitude, accuracy}``, ``location.battery.{level (0-1),
  is_charging}``, ``location.is_moving``, ``location.odometer``,
  ``location.activity.type``, ``location.extras.{temp1}``).

While the phone has no network (a tunnel, a no-signal stretch) or the server
does not answer, fixes are queued; when it is back, the queue goes first, as
``POST {batch_url}`` with a JSON array of JSON-form objects (at most
``batch_max`` per request, oldest first), then single fixes resume. A 4xx
answer (an unknown device, a refused fix) is counted and the fix dropped: the
server will never take it. Connection errors and 5xx keep it queued.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from simulators.fleet.gps import Fix

log = logging.getLogger(__name__)

DEFAULT_BATCH_PATH = "/api/v1/logistics/osmand/batch"


@dataclass(slots=True)
class PhoneStats:
    singles: int = 0  # single-fix requests answered 2xx
    batches: int = 0  # batch requests answered 2xx
    batched_fixes: int = 0  # fixes delivered inside batches
    refused: int = 0  # fixes a 4xx dropped
    errors: int = 0  # requests that failed (connection, 5xx): kept queued
    queued_max: int = 0


def iso_ms(t_ms: int) -> str:
    return datetime.fromtimestamp(t_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{t_ms % 1000:03d}Z"
    )


@dataclass(frozen=True, slots=True)
class Report:
    """One fix as the phone would report it, with its extras."""

    fix: Fix
    battery: float  # 0..1
    charging: bool
    odometer_m: float
    temp1: float | None


def query_params(device: str, r: Report, timestamp: str = "seconds") -> dict[str, str]:
    f = r.fix
    if timestamp == "millis":
        ts = str(f.t_ms)
    elif timestamp == "iso":
        ts = iso_ms(f.t_ms)
    else:
        ts = str(f.t_ms // 1000)
    params = {
        "id": device,
        "timestamp": ts,
        "lat": f"{f.lat:.7f}",
        "lon": f"{f.lon:.7f}",
        "speed": f"{f.speed_ms:.2f}",
        "bearing": f"{f.course:.1f}",
        "altitude": f"{f.alt:.1f}",
        "accuracy": f"{f.accuracy_m:.1f}",
        "batt": f"{r.battery * 100:.1f}",
        "charge": "true" if r.charging else "false",
    }
    if r.temp1 is not None:
        params["temp1"] = f"{r.temp1:.1f}"
    return params


def json_body(device: str, r: Report) -> dict[str, Any]:
    f = r.fix
    extras: dict[str, Any] = {}
    if r.temp1 is not None:
        extras["temp1"] = r.temp1
    return {
        "location": {
            "timestamp": iso_ms(f.t_ms),
            "coords": {
                "latitude": f.lat,
                "longitude": f.lon,
                "accuracy": f.accuracy_m,
                "speed": f.speed_ms,
                "heading": f.course,
                "altitude": f.alt,
            },
            "is_moving": f.moving,
            "odometer": round(r.odometer_m, 1),
            "battery": {"level": round(r.battery, 3), "is_charging": r.charging},
            "activity": {"type": "in_vehicle" if f.moving else "still"},
            "extras": extras,
        },
        "device_id": device,
    }


class OsmAndPhone:
    def __init__(
        self,
        device: str,
        form: str,
        url: str,
        batch_url: str,
        client: httpx.AsyncClient,
        *,
        timestamp: str = "seconds",
        batch_max: int = 500,
    ) -> None:
        self.device = device
        self.form = form
        self.url = url
        self.batch_url = batch_url
        self.client = client
        self.timestamp = timestamp
        self.batch_max = batch_max
        self.queue: list[Report] = []
        self.stats = PhoneStats()

    async def report(self, r: Report, online: bool) -> None:
        """One fix: sent now when online and nothing is queued, else queued."""
        if online and self.queue:
            await self.flush()
        if not online or self.queue:
            self._enqueue(r)
            return
        status = await self._send_single(r)
        if status is None or status >= 500:
            self._enqueue(r)

    def _enqueue(self, r: Report) -> None:
        self.queue.append(r)
        self.stats.queued_max = max(self.stats.queued_max, len(self.queue))

    async def flush(self) -> None:
        """Send the queue as batches, oldest first; stop at the first failure."""
        while self.queue:
            chunk = self.queue[: self.batch_max]
            body = [json_body(self.device, r) for r in chunk]
            try:
                resp = await self.client.post(self.batch_url, json=body)
            except httpx.HTTPError as exc:
                self.stats.errors += 1
                log.info("phone %s: batch not sent (%s); kept queued", self.device, exc)
                return
            if resp.status_code >= 500:
                self.stats.errors += 1
                return
            del self.queue[: len(chunk)]
            if resp.status_code >= 400:
                self.stats.refused += len(chunk)
                log.warning(
                    "phone %s: batch of %d refused: %d %s",
                    self.device,
                    len(chunk),
                    resp.status_code,
                    resp.text[:200],
                )
                continue
            self.stats.batches += 1
            self.stats.batched_fixes += len(chunk)

    async def _send_single(self, r: Report) -> int | None:
        try:
            if self.form == "json":
                resp = await self.client.post(self.url, json=json_body(self.device, r))
            elif self.form == "query_post":
                resp = await self.client.post(
                    self.url, data=query_params(self.device, r, self.timestamp)
                )
            else:
                resp = await self.client.get(
                    self.url, params=query_params(self.device, r, self.timestamp)
                )
        except httpx.HTTPError as exc:
            self.stats.errors += 1
            log.info("phone %s: fix not sent (%s); queued", self.device, exc)
            return None
        if resp.status_code >= 500:
            self.stats.errors += 1
        elif resp.status_code >= 400:
            self.stats.refused += 1
            log.warning(
                "phone %s: fix refused: %d %s", self.device, resp.status_code, resp.text[:200]
            )
        else:
            self.stats.singles += 1
        return resp.status_code
