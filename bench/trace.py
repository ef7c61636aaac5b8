"""``dehong bench trace [--short]``: every figure of issue 11's table in one JSON line,
each beside its baseline measured in the same run, on PostgreSQL with a ``dehong trace
seed`` history.

1. **History**: ``trace seed`` (:func:`cloud.trace.seed.history.seed_history`, seed 1,
   10 events per lot): 100,000 lots, 1,000,000 events (``--short``: 7,500 lots, 75,000
   events) in the event tables and the tamper-evident log, plus bench/recall.py's
   recall targets (5 levels each way, through the same writer) and their certificate;
   then ``ANALYZE``. The full history is seeded once into a database kept between
   runs (``dehong_bench_trace_<lots>x<events per lot>_s<seed>_v<history version>``) and each run works on
   a fresh copy of it (``CREATE DATABASE ... TEMPLATE``): ``history.reused`` says
   whether this run seeded it; ``--reseed`` seeds it again. ``--short`` seeds a fresh
   database and drops it.
2. **Capture** (``capture``): :func:`bench.trace_capture.capture_figures` on the
   seeded database: 4 clients POSTing 100-event EPCISDocuments to the API (``dehong
   cloud serve``), beside a plain insert of the same rows. Goal >= 2,000 events/s and
   >= 0.3x the plain insert.
3. **Query** (``query``): ``MATCH_anyEPCClass`` for one lot, 1 client, a different
   seeded lot each time (lots of county 533103, read by that county's admin), three
   ways interleaved, the same lots: ``GET /api/v1/epcis/events`` on the real API
   (``dehong cloud serve`` in its own process, over HTTP: auth, query, the
   EPCISQueryDocument), the query service as the API runs it
   (:func:`cloud.trace.events.query.run_query`, a session per query), and the
   baseline: an indexed lookup of the same rows (``trace_event_objects (uri)``
   joined to ``trace_events``, bodies included). Goal: the API's p99 < 50 ms.
4. **Recall** (``recall``): bench/recall.py's timing (``recall`` as the API runs it,
   20 runs each way, 5 levels) beside one lot's indexed lookup. Goal: max < 1 s.
5. **Log** (``log``): bench/tracelog.py's appends (batches of 100, one transaction
   each, beside a plain insert of the same rows) onto the seeded log, then 2,000
   inclusion proofs at the resulting size beside an indexed lookup of the leaf.
   Goals: >= 5,000 appends/s, inclusion p99 < 5 ms.
6. **Sensor evidence** (``evidence``): bench/evidence.py as it is (one 48 h interval
   of 1 Hz data on InfluxDB and on the SQLite store, from raw and from roll-ups,
   beside a plain read of the raw points; its own fresh databases). Goal: < 100 ms.

Hold ``/tmp/bench.lock`` while it runs: ``flock /tmp/bench.lock dehong bench trace``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
from sqlalchemy import func, select, text

from bench.ingest import PG_ADMIN, _drop_pg, _fresh_pg, _http_ok, _wait_for, spawn
from bench.servers import free_port
from cloud.db import Database
from cloud.db.migrate import upgrade_async
from cloud.trace.events.query import parse_query, run_query
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.log import service as log_service
from cloud.trace.seed.history import (
    HISTORY_VERSION,
    ORGS,
    gtin,
    lot_number,
    lot_uri,
    seed_history,
)
from cloud.trace.seed.writer import HistoryWriter

FULL_LOTS, SHORT_LOTS = 100_000, 7_500
EVENTS_PER_LOT = 10
SEED = 1
QUERY_GOAL_MS = 50.0
RECALL_GOAL_MS = 1000.0
COUNTY = ORGS[0][0]
CAPTURE_MISSING = "capture figures need bench/trace_capture.py from h/capture"


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))], 2)


def _stats(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50_ms": round(statistics.median(values), 2),
            "p99_ms": _pct(values, 0.99), "max_ms": round(max(values), 2)}  # fmt: skip


# ------------------------------------------------------------------ history


async def _seed(url: str, lots: int) -> dict[str, Any]:
    """The seeded history, recall targets and certificate; ANALYZE."""
    from bench import recall

    await upgrade_async(url)
    db = Database(url)
    try:
        result = await seed_history(db, lots, events_per_lot=EVENTS_PER_LOT, seed=SEED)
        t0 = time.perf_counter()
        async with HistoryWriter(db, created_by="bench") as w:
            forward, backward = await recall._targets(recall.History(w))
        await recall._register(db, forward, backward)
        async with db.transaction() as s:
            await s.execute(text("ANALYZE"))
        return {**result.as_dict(), "recall_target_events": w.written,
                "targets_and_analyze_s": round(time.perf_counter() - t0, 1)}  # fmt: skip
    finally:
        await db.dispose()


def _admin(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        cur = conn.execute(sql, params or None)
        return cur.fetchall() if cur.description else []


def _url(name: str) -> str:
    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"


async def _kept_history(lots: int, reseed: bool) -> tuple[str, dict[str, Any]]:
    """A fresh copy of the kept seeded database (seeded first when missing); its URL."""
    template = f"dehong_bench_trace_{lots}x{EVENTS_PER_LOT}_s{SEED}_v{HISTORY_VERSION}"
    info: dict[str, Any] | None = None
    if not reseed and _admin("SELECT 1 FROM pg_database WHERE datname = %s", template):
        with contextlib.suppress(psycopg.Error):
            with psycopg.connect(_url(template), connect_timeout=5) as conn:
                row = conn.execute("SELECT info FROM bench_trace_seeded").fetchone()
                info = None if row is None else orjson.loads(row[0])
    reused = info is not None
    if info is None:
        _admin(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        _admin(f'CREATE DATABASE "{template}"')
        info = await _seed(_url(template), lots)
        with psycopg.connect(_url(template), autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_trace_seeded (info text)")
            conn.execute(
                "INSERT INTO bench_trace_seeded VALUES (%s)", (orjson.dumps(info).decode(),)
            )
    work = f"dehong_bench_{secrets.token_hex(4)}"
    t0 = time.perf_counter()
    _admin(f'CREATE DATABASE "{work}" TEMPLATE "{template}"')
    copy_s = time.perf_counter() - t0
    return _url(work), {**info, "kept_database": template, "reused": reused,
                        "copy_s": round(copy_s, 1)}  # fmt: skip


# ------------------------------------------------------------------ query


async def _user(db: Database) -> tuple[str, str]:
    """A county admin of COUNTY: the JWT secret and its bearer header."""
    from cloud.auth.principal import Role
    from cloud.auth.service import create_user, issue_token

    async with db.transaction() as s:
        user = await create_user(s, username=f"bench-query-{secrets.token_hex(3)}",
                                 password=secrets.token_urlsafe(16), role=Role.COUNTY_ADMIN,
                                 county=COUNTY, actor="bench")  # fmt: skip
    secret = secrets.token_urlsafe(48)
    token, _ = issue_token(user, secret, 3600)
    return secret, f"Bearer {token}"


def _query_lots(lots: int, n: int) -> list[tuple[str, int]]:
    """``n`` different seeded lots of COUNTY (organisation 0: families f % 4 == 0):
    (class URI, events that name it)."""
    rng = random.Random(7)
    mine = [i for i in range(lots) if (i // 4) % len(ORGS) == 0]
    out = []
    for i in rng.sample(mine, min(n, len(mine))):
        role = i % 4
        consumer = i - role + (2 if role < 2 else 3)  # the next stage's lot
        consumed = role < 3 and consumer < lots
        out.append((lot_uri(gtin(0, (0, 0, 1, 2)[role]), lot_number(SEED, i)),
                    EVENTS_PER_LOT + int(consumed)))  # fmt: skip
    return out


async def _queries(url: str, lots: int, n: int) -> dict[str, Any]:
    db = Database(url)
    tmp = Path(tempfile.mkdtemp(prefix="dehong-bench-trace-"))
    api_ms: list[float] = []
    service_ms: list[float] = []
    base_ms: list[float] = []
    wrong: list[str] = []
    try:
        secret, authorization = await _user(db)
        env = {**os.environ, "DEHONG_DATABASE_URL": url, "DEHONG_JWT_SECRET": secret,
               "DEHONG_INFLUX_URL": "", "DEHONG_TSDB_PATH": str(tmp / "ts.db")}  # fmt: skip
        port = free_port()
        api = spawn(["cloud", "serve", "--port", str(port)], env, tmp / "api.log")
        base = f"http://127.0.0.1:{port}"
        try:
            await _wait_for(lambda: _http_ok(f"{base}/healthz"), 60, "API")
            async with httpx.AsyncClient(base_url=base, timeout=30,
                                         headers={"Authorization": authorization}) as c:  # fmt: skip

                async def via_api(uri: str) -> int:
                    r = await c.get("/api/v1/epcis/events", params={"MATCH_anyEPCClass": uri})
                    r.raise_for_status()
                    return len(r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"])

                async def via_service(uri: str) -> int:
                    async with db.session() as s:
                        q = parse_query([("MATCH_anyEPCClass", uri)])
                        return len((await run_query(s, q, [COUNTY])).events)

                async def baseline(uri: str) -> int:
                    async with db.session() as s:
                        rows = await s.execute(
                            select(TraceEvent.seq, TraceEvent.body)
                            .join(TraceEventObject, TraceEventObject.event_seq == TraceEvent.seq)
                            .where(TraceEventObject.uri == uri)
                        )
                        return len(rows.all())

                ways = [(via_api, api_ms), (via_service, service_ms), (baseline, base_ms)]
                targets = _query_lots(lots, n + 20)
                for uri, _ in targets[:20]:  # warm-up: connections, plans
                    for fn, _ in ways:
                        await fn(uri)
                for k, (uri, expected) in enumerate(targets[20:]):
                    for j in range(3):  # interleaved, the order rotating
                        fn, out = ways[(k + j) % 3]
                        t0 = time.perf_counter()
                        got = await fn(uri)
                        out.append((time.perf_counter() - t0) * 1000)
                        if got != expected and len(wrong) < 5:
                            wrong.append(f"{fn.__name__} {uri}: {got} events, {expected} expected")
        finally:
            api.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                api.wait(10)
    finally:
        await db.dispose()
    return {
        "lots_queried": len(api_ms),
        "events_per_lot": f"{EVENTS_PER_LOT}-{EVENTS_PER_LOT + 1}",
        "api_get_epcis_events": _stats(api_ms),
        "query_service": _stats(service_ms),
        "baseline_indexed_lookup": _stats(base_ms),
        "wrong_counts": wrong,
        "goal": f"GET /api/v1/epcis/events p99 < {QUERY_GOAL_MS:.0f} ms",
        "goal_met": _pct(api_ms, 0.99) < QUERY_GOAL_MS and not wrong,
    }


# ------------------------------------------------------------------ the rest


async def _recall(url: str) -> dict[str, Any]:
    from bench import recall

    db = Database(url)
    try:
        fwd, fwd_nodes = await recall._time_recall(db, recall.G_R, "R0", "forward")
        back, back_nodes = await recall._time_recall(db, recall.G_B, "B5", "backward")
        base = await recall._time_baseline(db, recall.G_R, "R0")
    finally:
        await db.dispose()
    worst = max(max(fwd), max(back))
    return {
        "levels": 5, "runs": recall.RUNS,
        "forward": {"nodes": fwd_nodes, **_stats(fwd)},
        "backward": {"nodes": back_nodes, **_stats(back)},
        "baseline_lot_events": _stats(base),
        "goal": f"forward and backward each < {RECALL_GOAL_MS:.0f} ms (max of the runs)",
        "goal_met": worst < RECALL_GOAL_MS,
    }  # fmt: skip


async def _log(url: str, short: bool) -> dict[str, Any]:
    from bench import tracelog

    db = Database(url)
    try:
        async with db.session() as s:
            before = await log_service.tree_size(s)
        appends = await tracelog._appends(db, 5000 if short else 20_000)
        async with db.session() as s:
            size = await log_service.tree_size(s)
        proofs = await tracelog._proofs(db, size, 2000)
    finally:
        await db.dispose()
    goals = {
        "appends_per_s": appends["events_per_s"] >= tracelog.APPEND_GOAL,
        "inclusion_p99_ms": proofs["inclusion_p99_ms"] < tracelog.PROOF_P99_GOAL_MS,
    }
    return {
        "leaves_before": before, "appends": appends, "proofs": proofs,
        "goals": {"appends_per_s": tracelog.APPEND_GOAL,
                  "inclusion_p99_ms": tracelog.PROOF_P99_GOAL_MS},
        "goals_met": goals, "goal_met": all(goals.values()),
    }  # fmt: skip


async def _capture(url: str, short: bool) -> dict[str, Any]:
    try:
        from bench.trace_capture import capture_figures
    except ImportError:
        return {"error": CAPTURE_MISSING, "goal_met": False}
    return await capture_figures(url, short=short)


async def _evidence(short: bool) -> dict[str, Any]:
    from bench.evidence import run_async

    out = await run_async(short)
    keep = ("baseline_raw_read", "evidence_raw", "evidence_auto", "evidence_rollup",
            "auto_equals_raw", "rollup_within_0_1_c", "goal_met")  # fmt: skip
    return {
        "interval_h": out["interval_h"], "rate_hz": out["rate_hz"],
        "repetitions": out["repetitions"], "relational": out["relational"],
        **{store: {k: _no_summary(out[store].get(k)) for k in keep}
           for store in ("influxdb", "sqlite") if store in out},
        "goal": f"evidence from raw and from roll-ups < {out['goal_ms']:.0f} ms (p99)",
        "goal_met": bool(out["goal_met"]),
    }  # fmt: skip


def _no_summary(value: Any) -> Any:
    """A timing without the evidence summary (kept short)."""
    return {k: v for k, v in value.items() if k != "evidence"} if isinstance(value, dict) else value


async def _run(short: bool, reseed: bool) -> dict[str, Any]:
    started = time.perf_counter()
    lots = SHORT_LOTS if short else FULL_LOTS
    if short:
        fresh = _fresh_pg()
        if fresh is None:
            raise SystemExit("dehong bench trace: needs PostgreSQL (DEHONG_TEST_PG_URL)")
        url = fresh
        try:
            history = {**await _seed(url, lots), "kept_database": None, "reused": False}
        except BaseException:
            _drop_pg(url)
            raise
    else:
        url, history = await _kept_history(lots, reseed)
    result: dict[str, Any] = {"bench": "trace", "short": short, "database": "postgresql"}
    try:
        db = Database(url)
        try:
            async with db.session() as s:
                history["events_in_store"] = await s.scalar(
                    select(func.count()).select_from(TraceEvent)
                )
                history["log_leaves"] = await log_service.tree_size(s)
        finally:
            await db.dispose()
        result["history"] = history
        result["query"] = await _queries(url, lots, 300 if short else 1000)
        result["recall"] = await _recall(url)
        result["log"] = await _log(url, short)
        result["capture"] = await _capture(url, short)
    finally:
        _drop_pg(url)
    result["evidence"] = await _evidence(short)
    parts = ("capture", "query", "recall", "evidence", "log")
    result["goals_met"] = {p: bool(result[p].get("goal_met")) for p in parts}
    result["goal_met"] = all(result["goals_met"].values())
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["machine_cores"] = os.cpu_count()
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return result


def run(short: bool = False, reseed: bool = False) -> dict[str, Any]:
    return asyncio.run(_run(short, reseed))
