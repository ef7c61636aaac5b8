"""What ingest does with an inspection event (``EventMessage(type="inspection")``):

1. the thumbnail is decoded, checked (:mod:`.thumbnails`) and put in the file
   store; a bad one is left out and its reason kept on the record, never fatal;
2. the record goes to the ``inspections`` table, once per (gateway, event id);
3. the numbers go to the time series: measurement ``inspection``, tags county,
   site, device, float fields ``n_{count}`` for the counts, the measurements by
   their own names, and ``usable`` (1 or 0).

Ingest queues the point of step 3 with its data (:func:`record_inspection` returns
it), so a hung time-series store never stalls the receive loop; the event is
acknowledged once the point is written. A store that is down means no ack, so the
gateway resends it; every step is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import math

from cloud.db import Database
from cloud.db.upsert import upsert
from cloud.ingest.registry import KnownGateway, ms_to_dt
from cloud.inspections.files import FileStore, files_for
from cloud.inspections.storage import InspectionRecord
from cloud.inspections.thumbnails import ThumbnailError, decode_thumbnail
from cloud.settings import get_settings
from cloud.timeseries import QUALITY_SUFFIX, Point, TimeSeriesStore
from protocol.ids import METRIC_RE
from protocol.messages import EventMessage, Inspection

log = logging.getLogger(__name__)

MEASUREMENT = "inspection"


def ts_fields(insp: Inspection) -> dict[str, float]:
    """Float fields for the time series. Keys that are not metric names (a-z 0-9 _,
    at most 32) stay in the relational record only."""
    fields = {f"n_{k}": float(v) for k, v in insp.counts.items()}
    fields.update({k: float(v) for k, v in insp.measurements.items() if math.isfinite(v)})
    fields["usable"] = 1.0 if insp.usable else 0.0
    return {k: v for k, v in fields.items() if METRIC_RE.match(k) and QUALITY_SUFFIX not in k}


async def _thumbnail(files: FileStore, insp: Inspection) -> tuple[str | None, str | None]:
    """(file key, None) or (None, why it was not stored)."""
    if insp.thumbnail_jpeg is None:
        return None, None
    try:
        data = decode_thumbnail(insp.thumbnail_jpeg)
    except ThumbnailError as exc:
        return None, str(exc)
    return await asyncio.to_thread(files.put, data), None


async def store_inspection(
    db: Database,
    tsdb: TimeSeriesStore,
    ev: EventMessage,
    known: KnownGateway,
    files: FileStore | None = None,
) -> None:
    """Store an inspection event, its point too; other events are left alone."""
    point = await record_inspection(db, ev, known, files)
    if point is not None:
        await tsdb.write([point])


async def record_inspection(
    db: Database,
    ev: EventMessage,
    known: KnownGateway,
    files: FileStore | None = None,
) -> Point | None:
    """Steps 1 and 2 of an inspection event; returns its time-series point (step 3)
    for the caller to write. None for other events."""
    insp = ev.inspection
    if insp is None:
        return None
    key, error = await _thumbnail(files or files_for(get_settings()), insp)
    if error is not None:
        log.warning("inspection %s of %s stored without its thumbnail: %s", ev.id, ev.gw, error)
    device = ev.device or ev.gw
    async with db.transaction() as s:
        await upsert(
            s,
            InspectionRecord,
            {
                "gateway_id": ev.gw,
                "event_id": ev.id,
                "county": known.county,
                "site": known.site,
                "device": device,
                "ts": ms_to_dt(ev.ts),
                "ts_ms": ev.ts,
                "program": insp.program,
                "lot": insp.lot,
                "usable": insp.usable,
                "unusable_reason": insp.unusable_reason,
                "grade": insp.grade,
                "counts": dict(insp.counts),
                "measurements": dict(insp.measurements),
                "image_sha256": insp.image_sha256,
                "thumbnail_key": key,
                "thumbnail_error": error,
            },
            keys=("gateway_id", "event_id"),
        )
    return Point(MEASUREMENT, device, known.county, known.site, ev.ts, ts_fields(insp))
