"""Alerts about the time-series store.

A write the store refuses for a reason other than the data (bad credentials, a
missing database, the server down or hung) is an outage: the writer keeps the
data, acknowledges nothing and retries with backoff. An operator must hear of it,
so each outage episode is

- logged once at ERROR, with what to do (each retry is a WARNING besides);
- shown in the worker's metrics: ``dehong_ingest_store_alert{kind}`` is 1 while it
  lasts, ``dehong_ingest_store_alerts_total{kind}`` counts episodes;
- recorded in the ``ingest_alerts`` table (one row per kind, active while
  ``cleared_at`` is null), which ``GET /api/v1/ingest/alerts`` lists.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from cloud.db import Database, utcnow
from cloud.db.upsert import upsert
from cloud.ingest.metrics import IngestMetrics
from cloud.ingest.storage import IngestAlert
from cloud.timeseries import TimeSeriesError

log = logging.getLogger(__name__)


def alert_kind(exc: TimeSeriesError) -> str:
    """``store_auth`` (401/403), ``store_not_found`` (404: the database is missing),
    ``store_bad_request`` (another 4xx not about the data), ``store_unavailable``
    (connection refused, timeouts, 5xx, 429)."""
    status = exc.status
    if status in (401, 403):
        return "store_auth"
    if status == 404:
        return "store_not_found"
    if status is not None and 400 <= status < 500 and status != 429:
        return "store_bad_request"
    return "store_unavailable"


@dataclass(frozen=True, slots=True)
class _Change:
    kind: str
    message: str
    raised: bool


class StoreAlerts:
    """The writer's view of the store: :meth:`failed` on each outage error,
    :meth:`ok` on each write taken. Never raises and never blocks the writer; the
    table is updated in the background, in order."""

    def __init__(self, db: Database | None, metrics: IngestMetrics, worker: str = "") -> None:
        self.db = db
        self.metrics = metrics
        self.worker = worker
        self.active: str | None = None
        self._changes: list[_Change] = []
        self._flusher: asyncio.Task[None] | None = None

    def failed(self, exc: TimeSeriesError) -> None:
        kind = alert_kind(exc)
        if kind == self.active:
            return
        if self.active is not None:
            self._clear()
        self.active = kind
        self.metrics.store_alert = kind
        self.metrics.store_alerts[kind] += 1
        log.error(
            "ALERT %s: the time-series store does not take writes (%s). Nothing is "
            "dead-lettered or acknowledged: the data is kept and retried until it is fixed",
            kind,
            exc,
        )
        self._record(_Change(kind, str(exc)[:2000], raised=True))

    def ok(self) -> None:
        if self.active is not None:
            self._clear()

    def _clear(self) -> None:
        kind, self.active = self.active, None
        assert kind is not None
        self.metrics.store_alert = ""
        log.warning("resolved %s: the time-series store takes writes again", kind)
        self._record(_Change(kind, "", raised=False))

    def _record(self, change: _Change) -> None:
        if self.db is None:
            return
        self._changes.append(change)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def flushed(self) -> None:
        """Wait until every change is in the table (tests, shutdown)."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        assert self.db is not None
        while self._changes:
            change = self._changes.pop(0)
            now = utcnow()
            row: dict[str, object] = {
                "kind": change.kind,
                "worker": self.worker[:128],
                "updated_at": now,
                "cleared_at": None if change.raised else now,
            }
            columns = ["worker", "updated_at", "cleared_at"]
            if change.raised:
                row |= {"message": change.message, "raised_at": now}
                columns += ["message", "raised_at"]
            try:
                async with self.db.transaction() as s:
                    if change.raised:
                        await upsert(s, IngestAlert, row, keys=("kind",), update=columns)
                    else:
                        # clears only an existing row (a raise that was not recorded
                        # leaves nothing to clear)
                        existing = await s.get(IngestAlert, change.kind)
                        if existing is not None:
                            existing.worker = self.worker[:128]
                            existing.updated_at = now
                            existing.cleared_at = now
            except Exception:
                log.exception("alert %s not recorded in the relational store", change.kind)
