"""EPCIS capture throughput on PostgreSQL (issue 11): ``capture_figures`` is what
``dehong bench trace`` reports under ``capture``; ``python -m bench.trace_capture
[--short]`` runs it alone on a fresh database.

1. **Seed**: a cooperative of county 533103 with 8 catalog products (GTIN-14) and 400
   registered lots of them; an operator of the co-op (``trace:write``, organisation
   scope: every event goes through the lot, county and organisation checks).
2. **The API**: ``dehong cloud serve`` (uvicorn) in its own process on a free port, as
   it runs in production.
3. **Capture**: 4 concurrent HTTP clients, each POSTing fresh 100-event EPCISDocuments
   to ``/api/v1/epcis/capture`` and following each job (its ``Location``) until it is
   no longer running; a document whose job failed is reported. Events are
   ObjectEvents (commissioning, storing, shipping, receiving, inspecting) naming 1-3
   registered lots as quantity-list classes, and AggregationEvents (packing lots into
   an SSCC case, childQuantityList), each with readPoint and bizLocation; every event
   is new. Half carry a phone-made ``eventID`` (urn:uuid), half are given the CBV 2.0
   event hash by the server. Documents are made and serialised before the clock
   starts; one warm-up document per client is left out.
   **events/s committed** = events counted in ``trace_events`` after the run, minus
   those before it, over the wall time.
4. **Baseline, same run**: a plain INSERT of the same rows the store writes (a
   ``trace_events`` row per event with its body, the ``trace_event_objects`` rows), for
   fresh events of the same shape, through SQLAlchemy executemany on the same driver,
   one transaction per 100 events, 4 concurrent connections. The rows are built before
   the clock starts.

Goal: >= 2,000 events/s committed AND >= 0.3x the plain insert. The machine is shared
and noisy: the ratio to the baseline, measured minutes apart on the same server, is the
figure to compare between runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

from bench.ingest import _http_ok, _wait_for, spawn
from bench.servers import cpu_seconds, free_port
from cloud.catalog.gs1 import gs1_check_digit
from cloud.catalog.storage import Organisation, Product
from cloud.catalog.uscc import check_char
from cloud.db import Database
from cloud.db.migrate import upgrade_async
from cloud.db.upsert import dialect_insert
from cloud.trace.epcis import event_hash
from cloud.trace.events.objects import cbv_word, location, named_objects
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.lots.storage import TraceLot

EVENTS_GOAL = 2000.0
RATIO_GOAL = 0.3
CLIENTS = 4
EVENTS_PER_DOC = 100
COUNTY = "533103"
DL = "https://id.gs1.org"
CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
PRODUCTS = 8
LOTS = 400
STEPS = ("commissioning", "storing", "shipping", "receiving", "inspecting")
DISPOSITIONS = {"commissioning": "active", "storing": "in_progress", "shipping": "in_transit",
                "receiving": "in_progress", "inspecting": "active"}  # fmt: skip
T0 = datetime(2026, 11, 1, tzinfo=UTC)
CST = timezone(timedelta(hours=8))


def _gtin(n: int) -> str:
    body = f"0690123{n:06d}"
    return body + gs1_check_digit(body)


def _gln(n: int) -> str:
    body = f"690123{n:06d}"
    return body + gs1_check_digit(body)


def _sscc(n: int) -> str:
    body = f"0690123{n:010d}"
    return body + gs1_check_digit(body)


#: GTINs 06901230070017... (item references 7001-7008): apart from other benches' data
GTIN_BASE = 7001


def _lot_key(n: int) -> tuple[str, str]:
    return _gtin(GTIN_BASE + n % PRODUCTS), f"MS2026-{n:05d}"


class Maker:
    """Fresh events: a counter makes every event (and every case) new."""

    def __init__(self, seed: int) -> None:
        self.n = seed * 10_000_000

    def event(self) -> dict[str, Any]:
        self.n += 1
        n = self.n
        t = T0 + timedelta(milliseconds=n)  # unique: hashed events differ
        lots = [_lot_key((n * 7 + k * 131) % LOTS) for k in range(1 + n % 3)]
        classes = [{"epcClass": f"{DL}/01/{g}/10/{lot}", "quantity": 20 + n % 500 + k / 2,
                    "uom": "KGM"} for k, (g, lot) in enumerate(lots)]  # fmt: skip
        site = 1 + n % 40
        e: dict[str, Any]
        if n % 5 == 4:
            e = {"type": "AggregationEvent",
                 "eventTime": t.astimezone(CST).isoformat(timespec="milliseconds"),
                 "eventTimeZoneOffset": "+08:00", "parentID": f"{DL}/00/{_sscc(n)}",
                 "childEPCs": [], "action": "ADD", "bizStep": "packing",
                 "disposition": "in_progress", "readPoint": {"id": f"{DL}/414/{_gln(site)}"},
                 "bizLocation": {"id": f"{DL}/414/{_gln(site)}"},
                 "childQuantityList": classes}  # fmt: skip
        else:
            step = STEPS[n % len(STEPS)]
            e = {"type": "ObjectEvent",
                 "eventTime": t.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                 "eventTimeZoneOffset": "+08:00", "epcList": [],
                 "action": "ADD" if step == "commissioning" else "OBSERVE",
                 "bizStep": step, "disposition": DISPOSITIONS[step],
                 "readPoint": {"id": f"{DL}/414/{_gln(site)}"},
                 "bizLocation": {"id": f"{DL}/414/{_gln(site + 100)}"},
                 "quantityList": classes}  # fmt: skip
        if n % 2 == 0:  # a phone's eventID; the others get the event hash
            e = {"eventID": f"urn:uuid:{uuid.UUID(int=n, version=4)}", **e}
        return e

    def document(self) -> dict[str, Any]:
        return {"@context": [CONTEXT], "type": "EPCISDocument", "schemaVersion": "2.0",
                "creationDate": "2026-11-20T08:05:00.000+08:00",
                "epcisBody": {"eventList": [self.event() for _ in range(EVENTS_PER_DOC)]}}  # fmt: skip


async def _seed(db: Database) -> dict[str, str]:
    """The co-op, its products and lots, an operator; bearer headers and the secret."""
    from cloud.auth.principal import Role
    from cloud.auth.service import create_user, issue_token

    async with db.transaction() as s:
        body = f"91{COUNTY}MA6{secrets.randbelow(10**6):06d}"
        org = Organisation(kind="cooperative", name="bench capture co-op",
                           uscc=body + check_char(body), county=COUNTY, created_by="bench")  # fmt: skip
        s.add(org)
        await s.flush()
        products = {}
        for i in range(PRODUCTS):
            p = Product(gtin=_gtin(GTIN_BASE + i), name=f"芒市小粒咖啡 {i}", category="coffee",
                        org_id=org.id, county=COUNTY, created_by="bench")  # fmt: skip
            s.add(p)
            await s.flush()
            products[p.gtin] = p.id
        for n in range(LOTS):
            g, lot = _lot_key(n)
            s.add(TraceLot(gtin=g, lot=lot, county=COUNTY, org_id=org.id,
                           product_id=products[g], created_by="bench"))  # fmt: skip
        user = await create_user(s, username=f"bench-capture-{secrets.token_hex(3)}", password=secrets.token_urlsafe(16),
                                 role=Role.OPERATOR, county=COUNTY, org_id=str(org.id),
                                 actor="bench")  # fmt: skip
    secret = secrets.token_urlsafe(48)
    token, _ = issue_token(user, secret, 3600)
    return {"secret": secret, "authorization": f"Bearer {token}"}


async def _count(db: Database) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(TraceEvent)) or 0)


async def _client(
    c: httpx.AsyncClient, docs: list[bytes], headers: dict[str, str], failures: list[str]
) -> None:
    for raw in docs:
        r = await c.post("/api/v1/epcis/capture", content=raw, headers=headers)
        if r.status_code != 202:
            failures.append(f"POST {r.status_code}: {r.text[:300]}")
            continue
        job = r.json()
        location_ = r.headers["location"]
        while job["running"]:
            await asyncio.sleep(0.05)
            job = (await c.get(location_, headers=headers)).json()
        if not job["success"]:
            failures.append(orjson.dumps(job["errors"][:2]).decode())


async def _capture(
    base: str, headers: dict[str, str], per_client: int, db: Database, api_pid: int
) -> dict[str, Any]:
    makers = [Maker(1 + k) for k in range(CLIENTS)]
    warm = [[orjson.dumps(m.document())] for m in makers]
    docs = [[orjson.dumps(m.document()) for _ in range(per_client)] for m in makers]
    failures: list[str] = []
    h = {**headers, "Content-Type": "application/ld+json"}
    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as c:
        await asyncio.gather(*(_client(c, w, h, failures) for w in warm))
        before = await _count(db)
        cpu0 = cpu_seconds(api_pid)
        t0 = time.perf_counter()
        await asyncio.gather(*(_client(c, d, h, failures) for d in docs))
        wall = time.perf_counter() - t0
        cpu = cpu_seconds(api_pid) - cpu0
    stored = await _count(db) - before
    sent = CLIENTS * per_client * EVENTS_PER_DOC
    return {
        "documents": CLIENTS * per_client,
        "events_sent": sent,
        "events_stored": stored,
        "wall_s": round(wall, 2),
        "events_per_s": round(stored / wall, 1),
        "api_cpu_ms_per_event": round(cpu * 1000 / max(stored, 1), 3),
        "failed_documents": len(failures),
        "first_failures": failures[:3],
    }


def _rows(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """The trace_events rows and, per event, the trace_event_objects rows (without the
    event's seq) the store writes for ``doc``."""
    now = datetime.now(UTC)
    events, objects = [], []
    for e in doc["epcisBody"]["eventList"]:
        body = dict(e)
        if "eventID" not in body:
            body = {"eventID": event_hash(body, None), **body}
        body["recordTime"] = "2026-11-20T00:00:00.000Z"
        events.append({"event_id": body["eventID"], "event_type": body["type"],
                       "event_time": datetime.fromisoformat(body["eventTime"]),
                       "event_tz_offset": body["eventTimeZoneOffset"], "record_time": now,
                       "county": COUNTY, "action": body.get("action"),
                       "biz_step": cbv_word(body.get("bizStep"), "bizStep"),
                       "disposition": cbv_word(body.get("disposition"), "disposition"),
                       "read_point": location(body.get("readPoint")),
                       "biz_location": location(body.get("bizLocation")), "body": body,
                       "context": None, "capture_id": None, "created_by": "bench-plain"})  # fmt: skip
        objects.append([{"role": o.role, "uri": o.uri, "gtin": o.gtin, "lot": o.lot}
                        for o in named_objects(body)])  # fmt: skip
    return events, objects


async def _plain_worker(db: Database, batches: list[Any]) -> None:
    table, objects_table = TraceEvent.__table__, TraceEventObject.__table__
    for events, objects in batches:
        async with db.transaction() as s:
            ins = dialect_insert(s, table).returning(table.c.event_id, table.c.seq)
            seqs = {k: v for k, v in await s.execute(ins, events)}
            rows = [{**o, "event_seq": seqs[e["event_id"]]}
                    for e, objs in zip(events, objects, strict=True) for o in objs]  # fmt: skip
            await s.execute(dialect_insert(s, objects_table), rows)


async def _plain(db: Database, per_client: int) -> dict[str, Any]:
    makers = [Maker(100 + k) for k in range(CLIENTS)]
    work = [[_rows(m.document()) for _ in range(per_client + 1)] for m in makers]
    await asyncio.gather(*(_plain_worker(db, w[:1]) for w in work))  # warm-up
    before = await _count(db)
    t0 = time.perf_counter()
    await asyncio.gather(*(_plain_worker(db, w[1:]) for w in work))
    wall = time.perf_counter() - t0
    stored = await _count(db) - before
    return {"events_stored": stored, "wall_s": round(wall, 2),
            "events_per_s": round(stored / wall, 1)}  # fmt: skip


async def capture_figures(pg_url: str, *, short: bool) -> dict[str, Any]:
    """Capture through the API vs. the plain insert, on the database ``pg_url``: a fresh
    one (migrated here), used by nothing else while this runs (events are counted in
    ``trace_events``). It is left with the bench's co-op, lots and events (the plain
    insert's rows are ``created_by = 'bench-plain'``)."""
    per_client = 10 if short else 30
    tmp = Path(tempfile.mkdtemp(prefix="dehong-bench-capture-"))
    await upgrade_async(pg_url)
    db = Database(pg_url)
    try:
        seeded = await _seed(db)
        env = {**os.environ, "DEHONG_DATABASE_URL": pg_url, "DEHONG_JWT_SECRET": seeded["secret"],
               "DEHONG_INFLUX_URL": "", "DEHONG_TSDB_PATH": str(tmp / "ts.db")}  # fmt: skip
        port = free_port()
        api = spawn(["cloud", "serve", "--port", str(port)], env, tmp / "api.log")
        base = f"http://127.0.0.1:{port}"
        try:
            await _wait_for(lambda: _http_ok(f"{base}/healthz"), 60, "API")
            headers = {"Authorization": seeded["authorization"]}
            captured = await _capture(base, headers, per_client, db, api.pid)
        finally:
            api.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                api.wait(10)
        plain = await _plain(db, per_client)
    finally:
        await db.dispose()
    ratio = captured["events_per_s"] / max(plain["events_per_s"], 0.1)
    return {
        "clients": CLIENTS,
        "events_per_document": EVENTS_PER_DOC,
        "capture": captured,
        "plain_insert": plain,
        "ratio_to_plain_insert": round(ratio, 3),
        "goals": {"events_per_s": EVENTS_GOAL, "ratio_to_plain_insert": RATIO_GOAL},
        "goal_met": bool(
            captured["events_per_s"] >= EVENTS_GOAL
            and ratio >= RATIO_GOAL
            and captured["failed_documents"] == 0
            and captured["events_stored"] == captured["events_sent"]
        ),
        "machine_cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def run(short: bool = False) -> dict[str, Any]:
    from bench.ingest import _drop_pg, _fresh_pg

    url = _fresh_pg()
    if url is None:
        raise SystemExit("bench.trace_capture: needs PostgreSQL (DEHONG_TEST_PG_URL)")
    try:
        return {"bench": "trace-capture", "short": short, "database": "postgresql",
                **asyncio.run(capture_figures(url, short=short))}  # fmt: skip
    finally:
        _drop_pg(url)


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true")
    print(json.dumps(run(short=parser.parse_args().short)))
