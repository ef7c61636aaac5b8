"""The evidence of a custody interval as an EPCIS 2.0 event (pure).

An ObjectEvent, action OBSERVE, bizStep ``sensor_reporting`` (CBV 2.0), naming the
lot's class in its quantityList and the location as its bizLocation, with one
sensorElement per device and slice (:mod:`cloud.trace.custody.evidence`):

- ``sensorMetadata``: ``startTime``/``endTime`` of the element, ``dh:device`` (the
  time-series id);
- ``sensorReport``: ``gs1:Temperature`` (uom ``CEL``) and, when measured,
  ``gs1:RelativeHumidity`` (uom ``P1``, per cent: UN/ECE Rec. 20; ``A93`` is gram per
  cubic metre, absolute humidity), each with ``minValue``, ``maxValue``, ``meanValue``
  and the extension fields ``dh:mkt`` (°C, ΔH/R = 10,000 K), ``dh:readings``,
  ``dh:coverage``, ``dh:secondsBelow``, ``dh:secondsAbove``,
  ``dh:longestExcursionSeconds``, ``dh:cumulativeExcursionSeconds``,
  ``dh:uncertainSeconds``, ``dh:source`` (raw / rollup), the range judged against
  (``dh:lowLimit``, ``dh:highLimit``), ``dh:pollIntervalSeconds`` and
  ``dh:pollIntervalFrom`` (rollups / readings / default).

Event-level extension fields: ``dh:status``, ``dh:custodyStart``/``dh:custodyEnd``/
``dh:custodyOpen`` (the interval; an open interval's evidence ends when it was
computed), ``dh:profile`` (the commodity profile's id and limits), ``dh:summary`` (per
quantity over the interval) and, for evidence that replaces earlier evidence of the same
interval, ``dh:supersedes`` (the replaced eventID). The ``dh`` prefix is declared in the
``@context`` stored with the event (:data:`CONTEXT`), so the query interface returns it.

Figures are rounded (°C and % to 3 decimals, seconds to the millisecond, coverage to
4 decimals): the same data gives the same event, so the same eventID (the CBV hash),
and :func:`fingerprint` changes only when a published figure does.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from cloud.timeseries.kinetics import Evidence
from cloud.trace.custody.evidence import Element, IntervalEvidence, Quantity, Summary
from cloud.trace.epcis.documents import DH_CONTEXT, EPCIS_CONTEXT

#: The @context evidence events are stored (and hashed) with (``dh``:
#: :data:`cloud.trace.epcis.documents.DH_NS`).
CONTEXT: list[Any] = [EPCIS_CONTEXT, DH_CONTEXT]
#: Times are written at Dehong's offset (China Standard Time).
OFFSET = "+08:00"
_TZ = timezone(timedelta(hours=8))

SENSOR_TYPE: dict[Quantity, tuple[str, str]] = {
    "temperature": ("gs1:Temperature", "CEL"),
    "humidity": ("gs1:RelativeHumidity", "P1"),
}
#: fields of the event that do not make its content (the fingerprint leaves them out)
NOT_CONTENT = ("eventID", "recordTime", "dh:supersedes", "errorDeclaration")


def epcis_time(ms: int) -> str:
    """``2026-01-01T08:00:00.000+08:00``: an instant (epoch ms) at Dehong's offset."""
    t = datetime.fromtimestamp(ms / 1000, UTC).astimezone(_TZ)
    return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}{OFFSET}"


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def _report(
    q: Quantity, ev: Evidence | Summary, poll: tuple[float, str] | None = None
) -> dict[str, Any]:
    kind, uom = SENSOR_TYPE[q]
    out: dict[str, Any] = {"type": kind, "uom": uom}
    if ev.covered_s > 0:
        out["minValue"] = _r(ev.min)
        out["maxValue"] = _r(ev.max)
        out["meanValue"] = _r(ev.mean)
    if q == "temperature" and ev.mkt is not None:
        out["dh:mkt"] = _r(ev.mkt)
    out.update(
        {
            "dh:readings": ev.n,
            "dh:coverage": _r(ev.coverage, 4),
            "dh:secondsBelow": _r(ev.seconds_below),
            "dh:secondsAbove": _r(ev.seconds_above),
            "dh:longestExcursionSeconds": _r(ev.longest_excursion_s),
            "dh:cumulativeExcursionSeconds": _r(ev.cumulative_excursion_s),
            "dh:source": ev.source,
        }
    )
    if ev.uncertain_s:
        out["dh:uncertainSeconds"] = _r(ev.uncertain_s)
    if poll is not None:
        out["dh:pollIntervalSeconds"] = _r(poll[0])
        out["dh:pollIntervalFrom"] = poll[1]
    if ev.low is not None:
        out["dh:lowLimit"] = ev.low
    if ev.high is not None:
        out["dh:highLimit"] = ev.high
    return out


def _element(e: Element) -> dict[str, Any]:
    return {
        "sensorMetadata": {
            "startTime": epcis_time(e.start_ms),
            "endTime": epcis_time(e.end_ms),
            "dh:device": e.device,
        },
        "sensorReport": [
            _report(q, ev, (e.poll_interval_s[q], e.poll_source[q])) for q, ev in e.readings.items()
        ],
    }


def evidence_event(
    lot_uri: str,
    place: str,
    ev: IntervalEvidence,
    *,
    custody_start_ms: int,
    custody_end_ms: int | None,
    supersedes: str | None = None,
) -> dict[str, Any]:
    """The evidence event of one interval (module docstring); ``custody_end_ms`` None
    for an interval still open (its evidence ends at ``ev.end_ms``)."""
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": epcis_time(ev.end_ms),
        "eventTimeZoneOffset": OFFSET,
        "epcList": [],
        "action": "OBSERVE",
        "bizStep": "sensor_reporting",
        "bizLocation": {"id": place},
        "quantityList": [{"epcClass": lot_uri}],
        "dh:status": ev.status,
        "dh:custodyStart": epcis_time(custody_start_ms),
        "dh:custodyOpen": custody_end_ms is None,
    }
    # a device with no reading in its slice has nothing to report (EPCIS wants at least
    # one sensorReport per element): its element is left out, and so is an empty list
    elements = [_element(e) for e in ev.elements if e.readings]
    if elements:
        event["sensorElementList"] = elements
    if custody_end_ms is not None:
        event["dh:custodyEnd"] = epcis_time(custody_end_ms)
    if ev.limits is not None:
        lim = ev.limits
        event["dh:profile"] = {
            "id": lim.profile_id,
            "tempMinC": lim.temp_min_c,
            "tempMaxC": lim.temp_max_c,
            "singleExcursionMaxSeconds": lim.single_excursion_max_s,
            "cumulativeExcursionMaxSeconds": lim.cumulative_excursion_max_s,
            **({"rhMin": lim.rh_min} if lim.rh_min is not None else {}),
            **({"rhMax": lim.rh_max} if lim.rh_max is not None else {}),
        }
    if ev.summary:
        event["dh:summary"] = {q: _report(q, s) for q, s in ev.summary.items()}
    if supersedes is not None:
        event["dh:supersedes"] = supersedes
    return event


def fingerprint(event: dict[str, Any]) -> str:
    """SHA-256 of the event's content: every field but its identity, record time and
    what it supersedes. Two computations with equal figures have equal fingerprints."""
    content = {k: v for k, v in event.items() if k not in NOT_CONTENT}
    return hashlib.sha256(
        json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
