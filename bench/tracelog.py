"""``dehong bench trace-log [--short]``: the tamper-evident log on PostgreSQL (issue 11).

1. **Appends**: realistic EPCIS events (~0.9 kB of JSON each) appended in batches of
   100, one transaction per batch (as a capture stores them): RFC 8785
   canonicalisation, leaf hashing, the subtree hashes and the inserts, events/s (the
   transactions are timed; making the events is not). Baseline in the same run, batch
   by batch: a plain INSERT of the same rows (index, eventID, leaf hash, precomputed)
   into a table of the same shape, in the same batches and transactions.
   Goal: >= 5,000 events/s.
2. The log is then grown to ~1,000,000 leaves (``--short``: 100,000) through the same
   ``append_events`` in batches of 5,000.
3. **Inclusion proofs** at that size: 2,000 proofs of random events by eventID at the
   latest size, each timed alone (the leaf, the size and the O(log n) subtree hashes
   read on one connection, the proof assembled). Baseline: the indexed lookup of the
   same leaf row by eventID. Goal: p99 < 5 ms. Also timed: a consistency proof, and
   signing a new checkpoint.

Relational store: a fresh PostgreSQL database (``DEHONG_TEST_PG_URL``'s server); the
bench refuses to run without one (SQLite would not say anything about production).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from typing import Any

from sqlalchemy import BigInteger, Column, LargeBinary, MetaData, Table, Text, insert, select

from bench.ingest import _drop_pg, _fresh_pg
from cloud.db import Database
from cloud.db.migrate import upgrade_async
from cloud.trace.log import merkle, service
from cloud.trace.log.canonical import canonical_json
from cloud.trace.log.checkpoint import NoteSigner
from cloud.trace.log.storage import LogLeaf

APPEND_GOAL = 5000.0
PROOF_P99_GOAL_MS = 5.0
BATCH = 100

_plain = Table(
    "bench_plain_leaves",
    MetaData(),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", Text, unique=True),
    Column("leaf_hash", LargeBinary(32)),
)


def epcis_event(i: int) -> dict[str, Any]:
    """An ObjectEvent as the event store keeps it (eventID, recordTime set)."""
    return {
        "type": "ObjectEvent",
        "eventID": f"ni:///sha-256;{os.urandom(32).hex()}?ver=CBV2.0",
        "eventTime": "2026-03-01T08:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "recordTime": "2026-03-01T00:00:01.250Z",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "epcList": [f"https://id.gs1.org/01/06901234567892/21/{i}-{k}" for k in range(4)],
        "quantityList": [{"epcClass": "https://id.gs1.org/01/06901234567892/10/MS-2026-01",
                          "quantity": 120.5 + i % 7, "uom": "KGM"}],
        "readPoint": {"id": "https://id.gs1.org/414/6901234567892"},
        "bizLocation": {"id": "https://id.gs1.org/414/6901234567892/254/1"},
        "sensorElementList": [{"sensorMetadata": {"startTime": "2026-03-01T00:00:00Z",
                                                  "endTime": "2026-03-01T08:00:00Z"},
                               "sensorReport": [{"type": "gs1:Temperature", "minValue": 15.2,
                                                 "maxValue": 19.75, "meanValue": 17.1,
                                                 "uom": "CEL"}]}],
        "ext:note": "芒市小粒咖啡 生豆",
    }  # fmt: skip


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _appends(db: Database, n: int) -> dict[str, Any]:
    """Each batch's events are made just before it is appended (untimed), as a capture
    receives them: the bench holds no more events in memory than a capture does."""
    log_s = plain_s = canon_s = 0.0
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: _plain.create(c))
    for i in range(0, n, BATCH):
        items = [(e["eventID"], e) for e in (epcis_event(j) for j in range(i, i + BATCH))]
        t0 = time.perf_counter()
        async with db.transaction() as s:
            await service.append_events(s, items)
        log_s += time.perf_counter() - t0

        t0 = time.perf_counter()
        for _, e in items:
            canonical_json(e)
        canon_s += time.perf_counter() - t0
        rows = [
            {"idx": i + j, "event_id": k, "leaf_hash": merkle.leaf_hash(canonical_json(e))}
            for j, (k, e) in enumerate(items)
        ]
        t0 = time.perf_counter()
        async with db.transaction() as s:
            await s.execute(insert(_plain), rows)
        plain_s += time.perf_counter() - t0
    return {
        "events": n,
        "batch": BATCH,
        "events_per_s": round(n / log_s, 1),
        "plain_insert_rows_per_s": round(n / plain_s, 1),
        "ratio_to_plain_insert": round(plain_s / log_s, 3),
        "canonicalise_us_per_event": round(canon_s / n * 1e6, 1),
        "event_json_bytes": len(canonical_json(epcis_event(0))),
    }


async def _grow(db: Database, target: int) -> float:
    """Append small events up to ``target`` leaves; the seconds it took."""
    async with db.session() as s:
        size = await service.tree_size(s)
    t0 = time.perf_counter()
    while size < target:
        n = min(5000, target - size)
        items = [(f"urn:uuid:bench-{size + j}", {"n": size + j}) for j in range(n)]
        async with db.transaction() as s:
            await service.append_events(s, items)
        size += n
    return time.perf_counter() - t0


async def _proofs(db: Database, size: int, samples: int) -> dict[str, Any]:
    rng = random.Random(11)
    async with db.session() as s:
        keys = [
            str(k)
            for k in (
                await s.scalars(
                    select(LogLeaf.event_id).where(
                        LogLeaf.idx.in_([rng.randrange(size) for _ in range(samples)])
                    )
                )
            ).all()
        ]
    rng.shuffle(keys)
    proof_ms: list[float] = []
    lookup_ms: list[float] = []
    async with db.session() as s:
        await service.inclusion_proof(s, event_id=keys[0])  # warm the connection
        for key in keys:
            t0 = time.perf_counter()
            await s.scalar(select(LogLeaf.leaf_hash).where(LogLeaf.event_id == key))
            lookup_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            proof = await service.inclusion_proof(s, event_id=key)
            proof_ms.append((time.perf_counter() - t0) * 1000)
            assert proof.tree_size == size
        merkle.verify_inclusion(
            proof.leaf_index, size, proof.leaf_hash, proof.hashes, proof.root_hash
        )
        con_ms = []
        for _ in range(200):
            first = rng.randrange(1, size)
            t0 = time.perf_counter()
            await service.consistency_proof(s, first, size)
            con_ms.append((time.perf_counter() - t0) * 1000)
    signer = NoteSigner.generate("bench.dehong.local/trace-log")
    t0 = time.perf_counter()
    async with db.transaction() as s:
        await service.latest_checkpoint(s, signer)
    sign_ms = (time.perf_counter() - t0) * 1000
    return {
        "leaves": size,
        "samples": len(proof_ms),
        "inclusion_p50_ms": round(statistics.median(proof_ms), 3),
        "inclusion_p99_ms": round(_pct(proof_ms, 0.99), 3),
        "proof_hashes": len(proof.hashes),
        "indexed_lookup_p50_ms": round(statistics.median(lookup_ms), 3),
        "indexed_lookup_p99_ms": round(_pct(lookup_ms, 0.99), 3),
        "consistency_p50_ms": round(statistics.median(con_ms), 3),
        "consistency_p99_ms": round(_pct(con_ms, 0.99), 3),
        "sign_new_checkpoint_ms": round(sign_ms, 2),
    }


async def _run(url: str, short: bool) -> dict[str, Any]:
    await upgrade_async(url)
    db = Database(url)
    try:
        appends = await _appends(db, 5000 if short else 20_000)
        target = 100_000 if short else 1_000_000
        grow_s = await _grow(db, target)
        proofs = await _proofs(db, target, 2000)
    finally:
        await db.dispose()
    proofs["grow_events_per_s_batches_of_5000"] = round((target - appends["events"]) / grow_s, 1)
    goals = {
        "appends_per_s": appends["events_per_s"] >= APPEND_GOAL,
        "inclusion_p99_ms": proofs["inclusion_p99_ms"] < PROOF_P99_GOAL_MS,
    }
    return {
        "bench": "trace-log",
        "short": short,
        "database": "postgresql",
        "appends": appends,
        "proofs": proofs,
        "goals": {"appends_per_s": APPEND_GOAL, "inclusion_p99_ms": PROOF_P99_GOAL_MS},
        "goals_met": goals,
        "goal_met": all(goals.values()),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def run(short: bool = False) -> dict[str, Any]:
    url = _fresh_pg()
    if url is None:
        raise SystemExit("dehong bench trace-log: needs PostgreSQL (DEHONG_TEST_PG_URL)")
    try:
        return asyncio.run(_run(url, short))
    finally:
        _drop_pg(url)


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true")
    print(json.dumps(run(short=parser.parse_args().short)))
