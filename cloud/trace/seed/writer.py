"""Write a history straight into the trace tables, as the event store would have stored
it, fast enough for millions of events.

:class:`HistoryWriter` takes EPCIS events (dicts, as a client captures them) and lots,
and writes, per batch and in one transaction:

- ``trace_lots`` and ``trace_lot_parents`` (ids assigned here);
- ``trace_events`` (the body as the store keeps it: the CBV 2.0 event hash as
  ``eventID`` when the event has none, ``recordTime`` added) and
  ``trace_event_objects`` (every identifier the event names, normalised as the store
  normalises it, :func:`cloud.trace.events.objects.named_objects`);
- the tamper-evident log (:func:`cloud.trace.log.service.append_events`, the leaf of
  each event as stored), in the same transaction as the rows.

On PostgreSQL the rows go through ``COPY ... FROM STDIN`` (psycopg), elsewhere (SQLite)
through executemany inserts. Events are not validated here (the store's checks cost
more than the writing; the tests validate what the seeder makes) and no audit entry is
written. The writer assumes nobody else writes events or lots while it runs: it numbers
``seq`` and lot ids itself and moves PostgreSQL's sequences past them at the end.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import Database
from cloud.trace.epcis import event_hash
from cloud.trace.events.objects import cbv_word, location, named_objects
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.events.store import parse_time, record_time_text
from cloud.trace.log.service import append_events
from cloud.trace.lots.storage import TraceLot, TraceLotParent

#: events per transaction (rows, log leaves)
BATCH = 5000

_EVENT_COLUMNS = ("seq", "event_id", "event_type", "event_time", "event_tz_offset",
                  "record_time", "county", "action", "biz_step", "disposition", "read_point",
                  "biz_location", "body", "created_by")  # fmt: skip
_OBJECT_COLUMNS = ("event_seq", "role", "uri", "gtin", "lot")
_LOT_COLUMNS = ("id", "gtin", "lot", "county", "org_id", "product_id", "quantity", "unit",
                "origin_base_id", "produced_on", "created_at", "created_by")  # fmt: skip
_PARENT_COLUMNS = ("lot_id", "parent_id")


class HistoryWriter:
    """Collects events and lots; :meth:`flush` writes every :data:`BATCH` events;
    :meth:`finish` writes the rest. Use ``async with HistoryWriter(db) as w``."""

    def __init__(self, db: Database, *, created_by: str = "seed", batch: int = BATCH) -> None:
        self.db = db
        self.created_by = created_by
        self.batch = batch
        self.written = 0
        self.lots_written = 0
        self._seq = 0
        self._lot_id = 0
        self._events: list[dict[str, Any]] = []
        self._objects: list[dict[str, Any]] = []
        self._leaves: list[tuple[str, dict[str, Any]]] = []
        self._lots: list[dict[str, Any]] = []
        self._parents: list[dict[str, Any]] = []
        self._started = False

    async def __aenter__(self) -> HistoryWriter:
        await self.start()
        return self

    async def __aexit__(self, kind: object, exc: object, tb: object) -> None:
        if kind is None:
            await self.finish()

    async def start(self) -> None:
        """Number after what is stored."""
        async with self.db.session() as s:
            self._seq = int(await s.scalar(select(func.max(TraceEvent.seq))) or 0)
            self._lot_id = int(await s.scalar(select(func.max(TraceLot.id))) or 0)
        self._started = True

    # ------------------------------------------------------------------ collecting

    def add_lot(
        self,
        gtin: str,
        lot: str,
        *,
        county: str,
        org_id: int,
        product_id: int | None = None,
        quantity: float | None = None,
        unit: str | None = None,
        origin_base_id: int | None = None,
        produced_on: date | None = None,
        parents: tuple[int, ...] | list[int] = (),
        created_at: datetime | None = None,
    ) -> int:
        """Register a lot (and the lots it was made from); its id."""
        assert self._started, "start() first"
        self._lot_id += 1
        self._lots.append({
            "id": self._lot_id, "gtin": gtin, "lot": lot, "county": county, "org_id": org_id,
            "product_id": product_id,
            "quantity": None if quantity is None else Decimal(str(quantity)),
            "unit": unit, "origin_base_id": origin_base_id, "produced_on": produced_on,
            "created_at": created_at or datetime.now().astimezone(), "created_by": self.created_by,
        })  # fmt: skip
        self._parents.extend({"lot_id": self._lot_id, "parent_id": p} for p in parents)
        return self._lot_id

    def add(
        self,
        event: dict[str, Any],
        county: str,
        *,
        record_time: datetime | None = None,
    ) -> dict[str, Any]:
        """Add one EPCIS event (without ``recordTime``; an ``eventID`` is given the CBV
        2.0 event hash when it has none); the event as stored."""
        assert self._started, "start() first"
        event_time = parse_time(event["eventTime"])
        if record_time is None:
            record_time = event_time + timedelta(seconds=1)
        record_time = record_time.replace(microsecond=record_time.microsecond // 1000 * 1000)
        event_id = event.get("eventID")
        if not isinstance(event_id, str) or not event_id:
            event_id = event_hash(event)
            body = {"eventID": event_id, **event}
        else:
            body = dict(event)
        body["recordTime"] = record_time_text(record_time)
        self._seq += 1
        action = body.get("action")
        self._events.append({
            "seq": self._seq, "event_id": event_id, "event_type": body["type"],
            "event_time": event_time, "event_tz_offset": body.get("eventTimeZoneOffset", ""),
            "record_time": record_time, "county": county,
            "action": action if isinstance(action, str) else None,
            "biz_step": cbv_word(body.get("bizStep"), "bizStep"),
            "disposition": cbv_word(body.get("disposition"), "disposition"),
            "read_point": location(body.get("readPoint")),
            "biz_location": location(body.get("bizLocation")),
            "body": body, "created_by": self.created_by,
        })  # fmt: skip
        self._objects.extend(
            {"event_seq": self._seq, "role": o.role, "uri": o.uri, "gtin": o.gtin, "lot": o.lot}
            for o in named_objects(body)
        )
        self._leaves.append((event_id, body))
        return body

    # ------------------------------------------------------------------ writing

    async def flush(self, force: bool = False) -> None:
        """Write what is collected, when a batch is full (or ``force``)."""
        if not force and len(self._events) < self.batch:
            return
        if not self._events and not self._lots:
            return
        async with self.db.transaction() as s:
            if s.bind.dialect.name == "postgresql":
                await _copy(s, "trace_lots", _LOT_COLUMNS, self._lots)
                await _copy(s, "trace_lot_parents", _PARENT_COLUMNS, self._parents)
                await _copy(s, "trace_events", _EVENT_COLUMNS, self._events)
                await _copy(s, "trace_event_objects", _OBJECT_COLUMNS, self._objects)
            else:
                for table, rows in ((TraceLot, self._lots), (TraceLotParent, self._parents),
                                    (TraceEvent, self._events), (TraceEventObject, self._objects)):  # fmt: skip
                    if rows:
                        await s.execute(insert(table.__table__), rows)
            await append_events(s, self._leaves)
        self.written += len(self._events)
        self.lots_written += len(self._lots)
        self._events, self._objects, self._leaves = [], [], []
        self._lots, self._parents = [], []

    async def finish(self) -> None:
        """Write the rest; on PostgreSQL, move the sequences past the ids written."""
        await self.flush(force=True)
        async with self.db.transaction() as s:
            if s.bind.dialect.name == "postgresql":
                for table, column in (("trace_events", "seq"), ("trace_lots", "id")):
                    await s.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                            f"GREATEST((SELECT max({column}) FROM {table}), 1))"
                        )
                    )


async def _copy(
    s: AsyncSession, table: str, columns: tuple[str, ...], rows: list[dict[str, Any]]
) -> None:
    """PostgreSQL's COPY through the session's psycopg connection."""
    if not rows:
        return
    conn = await s.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    async with raw.cursor() as cur:
        async with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
            for r in rows:
                await cp.write_row(
                    [orjson.dumps(r[c]).decode() if c == "body" else r[c] for c in columns]
                )
