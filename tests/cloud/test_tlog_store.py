"""cloud/trace/log/service.py on PostgreSQL and SQLite: appends in the caller's
transaction, roots and proofs from stored subtree hashes equal to the in-memory
RFC 9162 ones, refusals that write nothing, O(log n) reads, signed heads."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select, update

from cloud.db import Database
from cloud.db.migrate import upgrade
from cloud.trace.log import merkle, service
from cloud.trace.log.canonical import CanonicalizationError, canonical_json
from cloud.trace.log.checkpoint import NoteSigner, open_checkpoint
from cloud.trace.log.storage import STATE_ID, LogHead, LogLeaf, LogNode, LogState


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One migrated database per backend for this module (the log is emptied per test)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('tlog') / 'log.db'}"
        upgrade(url)
        yield url
        return
    from tests.support.postgres import fresh_database

    with fresh_database() as url:
        upgrade(url)
        yield url


@pytest.fixture
async def db(migrated: str) -> AsyncIterator[Database]:
    database = Database(migrated)
    async with database.transaction() as s:
        for table in (LogLeaf, LogNode, LogHead):
            await s.execute(delete(table))
        await s.execute(update(LogState).where(LogState.id == STATE_ID).values(size=0))
    yield database
    await database.dispose()


def event_body(i: int) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:00000000-0000-4000-8000-{i:012d}",
        "eventTime": "2026-01-01T08:00:00.000Z",
        "eventTimeZoneOffset": "+08:00",
        "recordTime": "2026-01-01T08:00:01.000Z",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "quantityList": [{"epcClass": "https://id.gs1.org/01/06901234567892/10/L1",
                          "quantity": 12.5 + i, "uom": "KGM"}],
        "ext:note": "芒市咖啡 ☕",
    }  # fmt: skip


def items(start: int, n: int) -> list[tuple[str, dict[str, Any]]]:
    return [(event_body(i)["eventID"], event_body(i)) for i in range(start, start + n)]


def leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(canonical_json(event_body(i))) for i in range(n)]


async def test_batches_of_any_size_give_rfc_9162_roots_and_proofs(db: Database) -> None:
    sizes = [1, 1, 2, 5, 13, 1, 64, 100, 3]
    total = 0
    for n in sizes:
        async with db.transaction() as s:
            got = await service.append_events(s, items(total, n))
        assert got == list(range(total, total + n))
        total += n
    mem = leaves(total)
    rng = random.Random(7)
    async with db.session() as s:
        assert await service.tree_size(s) == total
        for size in [*range(0, 20), 31, 32, 33, 63, 64, 65, 127, 128, total]:
            assert await service.root_hash(s, size) == merkle.mth(mem[:size])
        for _ in range(40):
            size = rng.randint(1, total)
            index = rng.randrange(size)
            proof = await service.inclusion_proof(s, index=index, size=size)
            assert proof.hashes == merkle.inclusion_proof(index, mem[:size])
            merkle.verify_inclusion(index, size, mem[index], proof.hashes, merkle.mth(mem[:size]))
            first = rng.randint(0, size)
            con = await service.consistency_proof(s, first, size)
            assert con.hashes == (merkle.consistency_proof(first, mem[:size]) if first else [])
            merkle.verify_consistency(first, size, con.first_root, con.second_root, con.hashes)
        by_id = await service.inclusion_proof(s, event_id=event_body(150)["eventID"])
        assert (by_id.leaf_index, by_id.tree_size) == (150, total)
        assert by_id.root_hash == merkle.mth(mem)
        # one stored node per completed subtree: total - popcount(total) of level >= 1
        assert (
            await s.scalar(select(func.count()).select_from(LogNode)) == total - total.bit_count()
        )


async def test_a_rolled_back_capture_leaves_no_leaf_and_no_gap(db: Database) -> None:
    async with db.transaction() as s:
        await service.append_events(s, items(0, 3))
    with pytest.raises(RuntimeError, match="capture failed"):
        async with db.transaction() as s:
            await service.append_events(s, items(3, 4))
            raise RuntimeError("capture failed after the append")
    async with db.transaction() as s:
        assert await service.append_events(s, items(10, 2)) == [3, 4]
    async with db.session() as s:
        assert await s.scalar(select(func.max(LogLeaf.idx))) == 4
        assert await service.tree_size(s) == 5


async def test_refusals_write_nothing(db: Database) -> None:
    async with db.transaction() as s:
        await service.append_events(s, items(0, 2))
    again = items(1, 2)  # event 1 is logged already
    with pytest.raises(service.LogError, match="already in the log") as exc:
        async with db.transaction() as s:
            await service.append_events(s, again)
    assert exc.value.status == 409
    with pytest.raises(service.LogError, match="given twice"):
        async with db.transaction() as s:
            await service.append_events(s, [*items(5, 1), *items(5, 1)])
    bad = event_body(9) | {"quantity": float("nan")}
    with pytest.raises(CanonicalizationError, match="finite"):
        async with db.transaction() as s:
            await service.append_events(s, [*items(7, 1), ("bad", bad)])
    async with db.session() as s:
        assert await service.tree_size(s) == 2
        assert await s.scalar(select(func.count()).select_from(LogLeaf)) == 2
    assert await _append_none(db) == []


async def _append_none(db: Database) -> list[int]:
    async with db.transaction() as s:
        return await service.append_events(s, [])


async def test_out_of_range_requests_name_the_field(db: Database) -> None:
    async with db.transaction() as s:
        await service.append_events(s, items(0, 5))
    async with db.session() as s:
        cases = [
            (dict(index=5), "query.index", 404),
            (dict(event_id="urn:uuid:nope"), "query.event_id", 404),
            (dict(index=1, size=6), "query.tree_size", 404),
            (dict(index=3, size=3), "query.tree_size", 422),
            (dict(), "query.event_id", 422),
        ]
        for kwargs, field, status in cases:
            with pytest.raises(service.LogError) as exc:
                await service.inclusion_proof(s, **kwargs)  # type: ignore[arg-type]
            assert (exc.value.field, exc.value.status) == (field, status), kwargs
        for first, second, field, status in ((0, 6, "query.second", 404),
                                             (6, 5, "query.first", 404),
                                             (4, 3, "query.first", 422),
                                             (-1, 3, "query.first", 422)):  # fmt: skip
            with pytest.raises(service.LogError) as exc:
                await service.consistency_proof(s, first, second)
            assert (exc.value.field, exc.value.status) == (field, status)


async def test_a_proof_reads_a_few_rows_by_key_whatever_the_size(db: Database) -> None:
    async with db.transaction() as s:
        await service.append_events(s, items(0, 1000))
    statements: list[str] = []

    def count(_conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.session() as s:
            await service.inclusion_proof(s, index=777, size=1000)
            await service.consistency_proof(s, 333, 1000)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    # inclusion: the leaf with the size, then the subtree hashes; consistency: the size,
    # then the subtree hashes
    assert len(statements) == 4, statements
    assert not any("trace_log_leaves.idx IN" in st and st.count("?") > 40 for st in statements)


async def test_concurrent_appends_are_serialised_without_gaps(db: Database) -> None:
    async def capture(start: int) -> list[int]:
        async with db.transaction() as s:
            got = await service.append_events(s, items(start, 25))
            await asyncio.sleep(0.01)  # hold the transaction open a little
            return got

    results = await asyncio.gather(*(capture(k * 100) for k in range(4)))
    assert sorted(i for r in results for i in r) == list(range(100))
    for r in results:
        assert r == list(range(r[0], r[0] + 25))
    async with db.session() as s:
        rows = (await s.execute(select(LogLeaf.idx, LogLeaf.event_id))).all()
        mem = {key: body for k in range(4) for key, body in items(k * 100, 25)}
        ordered = [merkle.leaf_hash(canonical_json(mem[key])) for _, key in sorted(rows)]
        assert await service.root_hash(s, 100) == merkle.mth(ordered)


async def test_checkpoints_are_signed_once_per_size_and_verify(db: Database) -> None:
    signer = NoteSigner.generate("dehong.test/trace-log")
    async with db.transaction() as s:
        empty = await service.latest_checkpoint(s, signer)
    assert empty.tree_size == 0 and empty.root_hash == merkle.EMPTY_ROOT
    async with db.transaction() as s:
        await service.append_events(s, items(0, 7))
    async with db.transaction() as s:
        head = await service.latest_checkpoint(s, signer)
    async with db.transaction() as s:
        assert await service.latest_checkpoint(s, signer) == head
        assert await s.scalar(select(func.count()).select_from(LogHead)) == 2
    cp = open_checkpoint(head.note, signer.verifier)
    assert (cp.size, cp.root_hash) == (7, merkle.mth(leaves(7)))
    other = NoteSigner.generate("dehong.test/trace-log")  # a new key: signed again
    async with db.transaction() as s:
        again = await service.latest_checkpoint(s, other)
    assert open_checkpoint(again.note, other.verifier) == cp


def test_the_migration_matches_the_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from cloud.db.models import Base

    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    ours = [d for d in diff if "trace_log" in repr(d)]
    assert ours == []
