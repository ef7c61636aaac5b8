"""Completeness per gateway (:func:`cloud.devices.completeness.advance`), batched: the
same answers as advancing one gateway at a time, and the same with two workers
advancing overlapping gateways at once, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import Database, utcnow
from cloud.devices import completeness
from cloud.devices.storage import GatewaySeq
from cloud.ingest.storage import ReceivedBatch
from tests.support.schema import migrate_async

State = dict[str, tuple[int, int, int]]  # gateway -> (contiguous, max, gaps)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rel.db'}"
        await migrate_async(url)
        yield url
        return
    from tests.support.postgres import fresh_database, migrated_template

    with fresh_database(template=migrated_template()) as url:
        yield url


async def _record(s: AsyncSession, gw: str, batches: list[tuple[str, int]]) -> list[int]:
    """Record batches (id, seq) of ``gw`` as ingest does; the seqs of the fresh ones."""
    dialect = postgresql if s.bind is not None and s.bind.dialect.name == "postgresql" else sqlite
    now = utcnow()
    rows = [
        {"gateway_id": gw, "batch_id": b, "seq": seq, "points": 1, "first_at": now, "last_at": now}
        for b, seq in batches
    ]
    result = await s.execute(
        dialect.insert(ReceivedBatch)
        .on_conflict_do_nothing(index_elements=["gateway_id", "batch_id"])
        .returning(ReceivedBatch.batch_id),
        rows,
    )
    fresh = set(result.scalars())
    return [seq for b, seq in batches if b in fresh]


async def _write_group(db: Database, group: dict[str, list[tuple[str, int]]]) -> None:
    async with db.transaction() as s:
        written = {gw: await _record(s, gw, batches) for gw, batches in sorted(group.items())}
        await completeness.advance(s, written)


async def _state(db: Database) -> State:
    async with db.session() as s:
        rows = (await s.execute(select(GatewaySeq))).scalars()
        return {r.gateway_id: (r.contiguous_seq, r.max_seq, r.gaps) for r in rows}


class Reference:
    """Completeness as defined, one gateway and one batch at a time."""

    def __init__(self) -> None:
        self.first: dict[str, int] = {}  # the lowest seq of the first group seen
        self.seqs: dict[str, set[int]] = {}

    def add(self, gw: str, seqs: list[int]) -> None:
        if not seqs:
            return
        self.first.setdefault(gw, min(seqs))
        self.seqs.setdefault(gw, set()).update(seqs)

    def state(self) -> State:
        out = {}
        for gw, seqs in self.seqs.items():
            contiguous = self.first[gw] - 1
            while contiguous + 1 in seqs:
                contiguous += 1
            top = max(seqs)
            later = sum(1 for s in seqs if s > contiguous)
            out[gw] = (contiguous, top, (top - contiguous) - later)
        return out


async def test_batched_advance_matches_the_definition(db_url: str) -> None:
    rng = random.Random(4)
    db = Database(db_url)
    ref = Reference()
    gateways = [f"gw-{i}" for i in range(6)]
    start = {gw: rng.randrange(0, 50) for gw in gateways}  # counters need not start at 0
    try:
        for g in range(60):
            group: dict[str, list[tuple[str, int]]] = {}
            for gw in rng.sample(gateways, rng.randint(1, len(gateways))):
                # out of order, with gaps, resends (same id) and the odd seq reused
                seqs = [start[gw] + rng.randrange(0, 40) for _ in range(rng.randint(1, 4))]
                group[gw] = [(f"b{s}" if rng.random() < 0.9 else f"x{g}-{s}", s) for s in seqs]
            async with db.session() as s:
                rows = await s.execute(select(ReceivedBatch.gateway_id, ReceivedBatch.batch_id))
                known = {(gw, b) for gw, b in rows}
            for gw, batches in group.items():
                fresh: dict[str, int] = {}
                for b, seq in batches:
                    if (gw, b) not in known:
                        fresh.setdefault(b, seq)
                ref.add(gw, list(fresh.values()))
            await _write_group(db, group)
            assert await _state(db) == ref.state(), f"after group {g}"
        # an empty call changes nothing and runs no statement
        async with db.transaction() as s:
            await completeness.advance(s, {"gw-0": [], "gw-new": []})
        assert await _state(db) == ref.state()
    finally:
        await db.dispose()


async def test_two_workers_advance_overlapping_gateways(db_url: str) -> None:
    """Two engines (two workers) write groups of overlapping gateways at once, each
    gateway's batches split between them, the first of each gateway sent to both (so
    that both create its row at once): no deadlock, no lost update, the state is the
    definition's."""
    rng = random.Random(7)
    gateways = [f"gw-{i:02d}" for i in range(12)]
    per_gateway = 40
    work: list[list[dict[str, list[tuple[str, int]]]]] = [[], []]
    for w in (0, 1):
        work[w].append({gw: [(f"w{w}-first", 0)] for gw in gateways})
    # every seq but a few (the gaps), dealt at random to the two workers
    missing = {gw: set(rng.sample(range(1, per_gateway), 3)) for gw in gateways}
    deals: list[list[tuple[str, int]]] = [[], []]
    for gw in gateways:
        for seq in range(1, per_gateway):
            if seq not in missing[gw]:
                deals[rng.randrange(2)].append((gw, seq))
    for w in (0, 1):
        rng.shuffle(deals[w])
        for i in range(0, len(deals[w]), 8):
            group: dict[str, list[tuple[str, int]]] = {}
            for gw, seq in deals[w][i : i + 8]:
                group.setdefault(gw, []).append((f"b{seq}", seq))
            work[w].append(group)

    dbs = [Database(db_url), Database(db_url)]
    try:

        async def worker(w: int) -> None:
            for group in work[w]:
                await _write_group(dbs[w], group)
                await asyncio.sleep(0)

        await asyncio.wait_for(asyncio.gather(worker(0), worker(1)), 120)
        ref = Reference()
        for gw in gateways:
            ref.add(gw, [0])
            ref.add(gw, [s for s in range(1, per_gateway) if s not in missing[gw]])
        assert await _state(dbs[0]) == ref.state()
        assert all(v[0] == min(missing[gw]) - 1 for gw, v in ref.state().items())
    finally:
        for db in dbs:
            await db.dispose()
