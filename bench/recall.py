"""``dehong bench recall [--short]``: recall forward and backward through 5 levels of
transformation and aggregation, on a large event history in PostgreSQL (issue 11).

1. **History**: ``--events`` background events (default 1,000,000; ``--short``:
   100,000) made by ``dehong trace seed`` (:func:`cloud.trace.seed.history.seed_history`,
   seed 11, 10 events per lot): registered lots harvested, transformed, packed into
   cases, stored, loaded and received, with readPoint and bizLocation, their eventIDs
   CBV 2.0 hashes, written in batches into ``trace_events``/``trace_event_objects``
   and the tamper-evident log (COPY on PostgreSQL).
2. **The recall targets**, among them:
   - forward from R0: split 1 -> 3 -> 9 -> 27 lots (three levels of
     TransformationEvents), each of the 27 packed into a case (AggregationEvent), the
     cases three to a pallet (AggregationEvent), the pallets shipped: 5 levels;
   - backward from B5: made from B4a, B4b, each from B3a, B3b, each from a case whose
     children (AggregationEvent) are lots B2a, B2b, each made from B1a, B1b: 5 levels.
   Every target lot has a few events of its own and a certificate covering it; their
   events go through the same writer (:class:`cloud.trace.seed.writer.HistoryWriter`).
3. **Timed**: ``cloud.trace.recall.service.recall`` (the walk, every node's last custody,
   the certificates and 合格证), as the API runs it, each run on a fresh session:
   p50 and max of 20 runs each way. Baseline in the same run: the indexed lookup of one
   lot's events (``trace_event_objects (gtin, lot)`` joined to ``trace_events``).
   Goal: forward and backward each under 1 s (max of the runs).

Relational store: a fresh PostgreSQL database (``DEHONG_TEST_PG_URL``'s server), or
SQLite (said in the output) when none is reachable.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.ingest import _drop_pg, _fresh_pg
from cloud.catalog.gs1 import gs1_check_digit
from cloud.catalog.storage import Organisation
from cloud.catalog.uscc import check_char
from cloud.db import Database
from cloud.db.migrate import upgrade_async
from cloud.trace.certificates.storage import TraceCertificate, TraceCertificateProduct
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.lots.storage import TraceLot
from cloud.trace.recall.service import recall
from cloud.trace.seed.history import seed_history
from cloud.trace.seed.writer import HistoryWriter

GOAL_MS = 1000.0
RUNS = 20
COUNTY = "533103"
DL = "https://id.gs1.org"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _gtin(n: int) -> str:
    body = f"0690123{n:06d}"
    return body + gs1_check_digit(body)


def _sscc(n: int) -> str:
    body = f"0690123{n:010d}"
    return body + gs1_check_digit(body)


def _gln(n: int) -> str:
    body = f"690123{n:06d}"
    return body + gs1_check_digit(body)


G_R, G_B = _gtin(901), _gtin(902)


#: recall.py's roles -> the EPCIS field that names the object in that role
_FIELD = {"epc": "epcList", "child": "childEPCs", "input_epc": "inputEPCList",
          "output_epc": "outputEPCList", "input_quantity": "inputQuantityList",
          "output_quantity": "outputQuantityList"}  # fmt: skip


class History:
    """The recall targets' events, as EPCIS events through the shared
    :class:`~cloud.trace.seed.writer.HistoryWriter` (eventIDs: CBV 2.0 hashes; rows,
    objects and log leaves in batches)."""

    def __init__(self, writer: HistoryWriter) -> None:
        self.w = writer

    @property
    def written(self) -> int:
        return self.w.written

    def add(
        self,
        event_type: str,
        t: datetime,
        objects: list[tuple[str, str, str | None, str | None]],
        *,
        action: str | None = "OBSERVE",
        biz_step: str = "storing",
        place: int = 1,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """``objects``: (role, uri, gtin, lot)."""
        location = f"{DL}/414/{_gln(place)}"
        body: dict[str, Any] = {"type": event_type, "eventTime": t.isoformat(timespec="milliseconds"),
                                "eventTimeZoneOffset": "+00:00"}  # fmt: skip
        for role, uri, _, _ in objects:
            if role == "parent":
                body["parentID"] = uri
            elif role == "quantity":
                field = "childQuantityList" if event_type == "AggregationEvent" else "quantityList"
                body.setdefault(field, []).append({"epcClass": uri})
            elif _FIELD[role].endswith("QuantityList"):
                body.setdefault(_FIELD[role], []).append({"epcClass": uri})
            else:
                body.setdefault(_FIELD[role], []).append(uri)
        if action is not None:
            body["action"] = action
        body.update({"bizStep": biz_step, "readPoint": {"id": location},
                     "bizLocation": {"id": location}, **(extra or {})})  # fmt: skip
        self.w.add(body, COUNTY)

    async def flush(self, force: bool = False) -> None:
        await self.w.flush(force)


def _lot(gtin: str, lot: str, role: str) -> tuple[str, str, str | None, str | None]:
    return role, f"{DL}/01/{gtin}/10/{lot}", gtin, lot


def _obj(uri: str, role: str) -> tuple[str, str, str | None, str | None]:
    return role, uri, None, None


async def _targets(h: History) -> tuple[list[str], list[str]]:
    """The forward tree from R0 and the backward tree to B5; their lot numbers."""
    t = T0 + timedelta(days=30)
    forward_lots = ["R0"]
    level = ["R0"]
    for depth in range(1, 4):
        nxt: list[str] = []
        for parent in level:
            children = [f"R{depth}-{parent}-{k}" for k in range(3)]
            h.add("TransformationEvent", t,
                  [_lot(G_R, parent, "input_quantity"),
                   *(_lot(G_R, c, "output_quantity") for c in children)],
                  action=None, biz_step="commissioning")  # fmt: skip
            nxt.extend(children)
        forward_lots.extend(nxt)
        level = nxt
        t += timedelta(hours=1)
    cases = []
    for i, lot in enumerate(level):
        case = f"{DL}/00/{_sscc(1000 + i)}"
        cases.append(case)
        h.add("AggregationEvent", t, [_obj(case, "parent"), _lot(G_R, lot, "quantity")],
              action="ADD", biz_step="packing")  # fmt: skip
    t += timedelta(hours=1)
    for p in range(9):
        pallet = f"{DL}/00/{_sscc(2000 + p)}"
        h.add("AggregationEvent", t, [_obj(pallet, "parent"),
                                      *(_obj(c, "child") for c in cases[3 * p : 3 * p + 3])],
              action="ADD", biz_step="packing")  # fmt: skip
        h.add("ObjectEvent", t + timedelta(hours=1), [_obj(pallet, "epc")], biz_step="shipping",
              extra={"destinationList": [{"type": "owning_party",
                                          "destination": f"{DL}/417/{_gln(77)}"}]})  # fmt: skip
    # backward: B5 <- B4x <- B3x <- case <- B2x <- B1x
    backward_lots = ["B5"]
    t = T0 + timedelta(days=20)
    for x in "ab":
        for y in "ab":
            b2 = f"B2{x}{y}"
            h.add("TransformationEvent", t,
                  [_lot(G_B, f"B1{x}{y}a", "input_quantity"), _lot(G_B, f"B1{x}{y}b", "input_quantity"),
                   _lot(G_B, b2, "output_quantity")], action=None, biz_step="commissioning")  # fmt: skip
            backward_lots += [b2, f"B1{x}{y}a", f"B1{x}{y}b"]
        case = f"{DL}/00/{_sscc(3000 + ord(x))}"
        h.add("AggregationEvent", t + timedelta(hours=1),
              [_obj(case, "parent"), _lot(G_B, f"B2{x}a", "quantity"), _lot(G_B, f"B2{x}b", "quantity")],
              action="ADD", biz_step="packing")  # fmt: skip
        for b3 in (f"B3{x}a", f"B3{x}b"):
            h.add("TransformationEvent", t + timedelta(hours=2),
                  [_obj(case, "input_epc"), _lot(G_B, b3, "output_quantity")],
                  action=None, biz_step="commissioning")  # fmt: skip
            backward_lots.append(b3)
        b4 = f"B4{x}"
        h.add("TransformationEvent", t + timedelta(hours=3),
              [_lot(G_B, f"B3{x}a", "input_quantity"), _lot(G_B, f"B3{x}b", "input_quantity"),
               _lot(G_B, b4, "output_quantity")], action=None, biz_step="commissioning")  # fmt: skip
        backward_lots.append(b4)
    h.add("TransformationEvent", t + timedelta(hours=4),
          [_lot(G_B, "B4a", "input_quantity"), _lot(G_B, "B4b", "input_quantity"),
           _lot(G_B, "B5", "output_quantity")], action=None, biz_step="commissioning")  # fmt: skip
    # a few events of their own for every target lot
    for g, lots in ((G_R, forward_lots), (G_B, backward_lots)):
        for i, lot in enumerate(lots):
            for k, step in enumerate(("storing", "inspecting", "storing")):
                h.add("ObjectEvent", T0 + timedelta(days=40, minutes=i * 3 + k),
                      [_lot(g, lot, "quantity")], biz_step=step, place=60 + k)  # fmt: skip
    await h.flush(force=True)
    return forward_lots, backward_lots


async def _register(db: Database, forward: list[str], backward: list[str]) -> None:
    async with db.transaction() as s:
        body = f"91{COUNTY}MA6000001"
        org = Organisation(kind="cooperative", name="bench co-op", uscc=body + check_char(body),
                           county=COUNTY, created_by="bench")  # fmt: skip
        s.add(org)
        await s.flush()
        s.add_all(TraceLot(gtin=g, lot=n, county=COUNTY, org_id=org.id, created_by="bench")
                  for g, lots in ((G_R, forward), (G_B, backward)) for n in lots)  # fmt: skip
        cert = TraceCertificate(
            type="green_food", number="BENCH-1", holder_uscc=org.uscc, holder_org_id=org.id,
            holder_name=org.name, county=COUNTY, valid_from=date(2026, 1, 1),
            valid_to=date(2030, 1, 1), issuer="bench", created_by="bench",
        )  # fmt: skip
        s.add(cert)
        await s.flush()
        s.add_all([TraceCertificateProduct(certificate_id=cert.id, gtin=G_R),
                   TraceCertificateProduct(certificate_id=cert.id, gtin=G_B)])  # fmt: skip


async def _time_recall(
    db: Database, gtin: str, lot: str, direction: str
) -> tuple[list[float], int]:
    times: list[float] = []
    nodes = 0
    for _ in range(RUNS):
        async with db.session() as s:
            start = await s.scalar(
                select(TraceLot).where(TraceLot.gtin == gtin, TraceLot.lot == lot)
            )
            assert start is not None
            t = time.perf_counter()
            answer = await recall(s, start, direction, [COUNTY], 10)  # type: ignore[arg-type]
            times.append((time.perf_counter() - t) * 1000)
            nodes = len(answer["items"])
            depth = max(i["depth"] for i in answer["items"])
            assert depth == 5, (direction, depth)
    return times, nodes


async def _time_baseline(db: Database, gtin: str, lot: str) -> list[float]:
    times = []
    for _ in range(RUNS):
        async with db.session() as s:
            t = time.perf_counter()
            q = (select(TraceEvent.event_id, TraceEvent.event_time)
                 .join(TraceEventObject, TraceEventObject.event_seq == TraceEvent.seq)
                 .where(TraceEventObject.gtin == gtin, TraceEventObject.lot == lot))  # fmt: skip
            list(await s.execute(q))
            times.append((time.perf_counter() - t) * 1000)
    return times


async def _run(n_events: int) -> dict[str, Any]:
    pg = _fresh_pg()
    tmp = None
    if pg is None:
        tmp = tempfile.mkdtemp(prefix="dehong-bench-recall-")
        url = f"sqlite:///{Path(tmp) / 'recall.db'}"
    else:
        url = pg
    try:
        await upgrade_async(url)
        db = Database(url)
        try:
            started = time.perf_counter()
            seeded = await seed_history(db, max(1, n_events // 10), events_per_lot=10, seed=11)
            async with HistoryWriter(db, created_by="bench") as w:
                forward, backward = await _targets(History(w))
            await _register(db, forward, backward)
            if pg is not None:
                async with db.transaction() as s:
                    from sqlalchemy import text

                    await s.execute(text("ANALYZE"))
            seeded_s = time.perf_counter() - started
            fwd, fwd_nodes = await _time_recall(db, G_R, "R0", "forward")
            back, back_nodes = await _time_recall(db, G_B, "B5", "backward")
            base = await _time_baseline(db, G_R, "R0")
        finally:
            await db.dispose()
    finally:
        if pg is not None:
            _drop_pg(pg)
    worst = max(max(fwd), max(back))
    return {
        "bench": "recall",
        "store": "postgresql" if pg is not None else "sqlite",
        "events": seeded.events + w.written,
        "seed_s": round(seeded_s, 1),
        "levels": 5,
        "forward": {"nodes": fwd_nodes, "p50_ms": round(statistics.median(fwd), 1),
                    "max_ms": round(max(fwd), 1)},
        "backward": {"nodes": back_nodes, "p50_ms": round(statistics.median(back), 1),
                     "max_ms": round(max(back), 1)},
        "baseline_lot_events_ms": {"p50": round(statistics.median(base), 2),
                                   "max": round(max(base), 2)},
        "goal": f"forward and backward each < {GOAL_MS:.0f} ms (max of {RUNS} runs)",
        "goal_met": worst < GOAL_MS,
    }  # fmt: skip


def run(short: bool = False, events: int | None = None) -> dict[str, Any]:
    n = events if events is not None else (100_000 if short else 1_000_000)
    return asyncio.run(_run(n))
