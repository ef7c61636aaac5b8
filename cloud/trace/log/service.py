"""The log's operations on the database: append, proofs, signed tree heads.

``append_events`` runs in the caller's transaction (the event store's capture
transaction): the leaves are written with the events or not at all. It updates the
one state row first, which holds a row lock until that transaction ends, so the
event store should append last, just before it commits. Everything else reads
O(log n) rows by primary key (see :mod:`cloud.trace.log.storage`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import SmallInteger, insert, literal, select, text, tuple_, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.base import utcnow
from cloud.db.upsert import dialect_insert
from cloud.trace.log import merkle
from cloud.trace.log.canonical import canonical_json
from cloud.trace.log.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from cloud.trace.log.merkle import EMPTY_ROOT, Node
from cloud.trace.log.storage import STATE_ID, LogHead, LogLeaf, LogNode, LogState

__all__ = [
    "ConsistencyProof",
    "InclusionProof",
    "LogError",
    "SignedHead",
    "append_events",
    "consistency_proof",
    "inclusion_proof",
    "key_at",
    "latest_checkpoint",
    "leaf_of",
    "root_hash",
    "tree_size",
]

#: Rows per INSERT statement (PostgreSQL allows 65,535 parameters per statement).
_CHUNK = 5000


class LogError(ValueError):
    """A request the log cannot answer; ``field`` names the input at fault."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


@dataclass(frozen=True)
class InclusionProof:
    event_id: str
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    hashes: list[bytes]
    root_hash: bytes


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    first_root: bytes
    second_root: bytes
    hashes: list[bytes]


@dataclass(frozen=True)
class SignedHead:
    tree_size: int
    root_hash: bytes
    note: str


# ------------------------------------------------------------------ reading


async def tree_size(session: AsyncSession) -> int:
    """The number of leaves committed (as this transaction sees them)."""
    size = await session.scalar(select(LogState.size).where(LogState.id == STATE_ID))
    return int(size or 0)


async def _hashes(session: AsyncSession, nodes: Iterable[Node]) -> dict[Node, bytes]:
    """The hashes of perfect subtrees in one query: level 0 from the leaves, the others
    from the nodes."""
    leaves = sorted(i for lv, i in nodes if lv == 0)
    inner = sorted((lv, i) for lv, i in nodes if lv > 0)
    parts = []
    if leaves:
        parts.append(
            select(literal(0, SmallInteger).label("level"), LogLeaf.idx, LogLeaf.leaf_hash).where(
                LogLeaf.idx.in_(leaves)
            )
        )
    if inner:
        parts.append(
            select(LogNode.level, LogNode.idx, LogNode.hash).where(
                tuple_(LogNode.level, LogNode.idx).in_(inner)
            )
        )
    if not parts:
        return {}
    stmt = parts[0] if len(parts) == 1 else union_all(*parts)
    out = {(int(lv), int(i)): bytes(h) for lv, i, h in await session.execute(stmt)}
    missing = [n for n in (*((0, i) for i in leaves), *inner) if n not in out]
    if missing:
        raise RuntimeError(f"the trace log store lacks subtree hashes {missing[:5]}: damaged")
    return out


async def _roots_and_proof(
    session: AsyncSession, sizes: Sequence[int], ranges: Sequence[merkle.Range]
) -> tuple[list[bytes], list[bytes]]:
    """The roots at ``sizes`` and the hashes of ``ranges``, in one or two reads."""
    covers = [merkle.perfect_cover(0, s) for s in sizes if s > 0]
    needed = merkle.proof_nodes(ranges) | {n for c in covers for n in c}
    hashes = await _hashes(session, needed)
    roots = [
        merkle.fold([hashes[n] for n in merkle.perfect_cover(0, s)]) if s else EMPTY_ROOT
        for s in sizes
    ]
    return roots, merkle.assemble(ranges, hashes)


async def root_hash(session: AsyncSession, size: int) -> bytes:
    roots, _ = await _roots_and_proof(session, [size], [])
    return roots[0]


def _check_size(value: int, size: int, field: str, what: str) -> None:
    """A tree size the log has had: 422 when negative, 404 when the log is not that big
    (yet)."""
    if value < 0:
        raise LogError(f"{what} must be >= 0", field=field)
    if value > size:
        raise LogError(
            f"{what} {value}: the log has {size} leaves, no tree of that size yet",
            field=field,
            status=404,
        )


async def key_at(session: AsyncSession, index: int) -> str | None:
    """The log key (eventID) of the leaf at ``index``, if there is one."""
    key = await session.scalar(select(LogLeaf.event_id).where(LogLeaf.idx == index))
    return None if key is None else str(key)


async def leaf_of(session: AsyncSession, event_id: str) -> tuple[int, bytes] | None:
    """The leaf index and leaf hash of an event (its log key), if it is in the log."""
    row = (
        await session.execute(
            select(LogLeaf.idx, LogLeaf.leaf_hash).where(LogLeaf.event_id == event_id)
        )
    ).first()
    return None if row is None else (int(row[0]), bytes(row[1]))


async def inclusion_proof(
    session: AsyncSession,
    *,
    event_id: str | None = None,
    index: int | None = None,
    size: int | None = None,
) -> InclusionProof:
    """The inclusion proof of one leaf (by event id or by index) in the tree of
    ``size`` leaves (default: the whole log as it is now)."""
    if (event_id is None) == (index is None):
        raise LogError("give either event_id or index", field="query.event_id")
    # The size in the same read: a leaf and the size that counts it commit together.
    size_now = select(LogState.size).where(LogState.id == STATE_ID).scalar_subquery()
    cols = select(LogLeaf.idx, LogLeaf.event_id, LogLeaf.leaf_hash, size_now)
    if event_id is not None:
        row = (await session.execute(cols.where(LogLeaf.event_id == event_id))).first()
        if row is None:
            raise LogError(
                f"event {event_id!r} is not in the log", field="query.event_id", status=404
            )
    else:
        row = (await session.execute(cols.where(LogLeaf.idx == index))).first()
        if row is None:
            raise LogError(f"leaf {index} is not in the log", field="query.index", status=404)
    idx, key, leaf, current = int(row[0]), str(row[1]), bytes(row[2]), int(row[3])
    at = current if size is None else size
    _check_size(at, current, "query.tree_size", "tree_size")
    if idx >= at:
        raise LogError(
            f"leaf {idx} was appended after tree size {at}: ask for tree_size > {idx}",
            field="query.tree_size",
        )
    ranges = merkle.inclusion_ranges(idx, at)
    (root,), hashes = await _roots_and_proof(session, [at], ranges)
    return InclusionProof(key, idx, at, leaf, hashes, root)


async def inclusion_proofs(
    session: AsyncSession, event_ids: Sequence[str], size: int
) -> dict[str, InclusionProof]:
    """The inclusion proofs of many leaves (by log key) in the tree of ``size`` leaves,
    in two reads whatever their number (the leaves; every subtree hash the proofs and
    the root need). Keys not in the log, or appended at or after ``size``, are absent
    from the answer. Used by the consumer trace page (cloud/resolver/page)."""
    _check_size(size, await tree_size(session), "size", "size")
    found: dict[str, tuple[int, bytes]] = {}
    keys = list(dict.fromkeys(event_ids))
    for i in range(0, len(keys), 500):
        rows = await session.execute(
            select(LogLeaf.event_id, LogLeaf.idx, LogLeaf.leaf_hash).where(
                LogLeaf.event_id.in_(keys[i : i + 500])
            )
        )
        for key, idx, leaf in rows:
            if int(idx) < size:
                found[str(key)] = (int(idx), bytes(leaf))
    if not found:
        return {}
    ranges = {k: merkle.inclusion_ranges(idx, size) for k, (idx, _leaf) in found.items()}
    needed = set(merkle.perfect_cover(0, size))
    for r in ranges.values():
        needed |= merkle.proof_nodes(r)
    hashes = await _hashes(session, needed)
    root = merkle.fold([hashes[n] for n in merkle.perfect_cover(0, size)])
    return {
        k: InclusionProof(k, idx, size, leaf, merkle.assemble(ranges[k], hashes), root)
        for k, (idx, leaf) in found.items()
    }


async def consistency_proof(session: AsyncSession, first: int, second: int) -> ConsistencyProof:
    size = await tree_size(session)
    _check_size(second, size, "query.second", "second")
    _check_size(first, size, "query.first", "first")
    if first > second:
        raise LogError(f"first {first} is larger than second {second}", field="query.first")
    ranges = merkle.consistency_ranges(first, second)
    (r1, r2), hashes = await _roots_and_proof(session, [first, second], ranges)
    return ConsistencyProof(first, second, r1, r2, hashes)


# ------------------------------------------------------------------ appending


async def _reserve(session: AsyncSession, n: int) -> int:
    """Add ``n`` to the size and return the new size; locks the state row."""
    stmt = (
        update(LogState)
        .where(LogState.id == STATE_ID)
        .values(size=LogState.size + n)
        .returning(LogState.size)
    )
    new = await session.scalar(stmt)
    if new is None:  # a schema made without the migration's row
        await session.execute(
            dialect_insert(session, LogState)
            .values(id=STATE_ID, size=0)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        new = await session.scalar(stmt)
    return int(new)


#: PostgreSQL: the leaves and the new subtree hashes in one statement, as two JSON
#: parameters (hashes in hex): one statement text whatever the batch size, serialised
#: in one ``orjson.dumps`` each (arrays of bytea cost the driver a scan and an escape of
#: every element).
_PG_WRITE = text(
    "WITH nodes AS (INSERT INTO trace_log_nodes (level, idx, hash) "
    "SELECT n.level, n.idx, decode(n.hash, 'hex') FROM json_to_recordset(CAST(:nodes AS "
    "json)) AS n(level smallint, idx bigint, hash text)) "
    "INSERT INTO trace_log_leaves (idx, event_id, leaf_hash) "
    "SELECT l.idx, l.event_id, decode(l.hash, 'hex') FROM json_to_recordset(CAST(:leaves "
    "AS json)) AS l(idx bigint, event_id text, hash text) ORDER BY l.idx "
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)


def _refuse_logged(keys: Sequence[str], written: set[str]) -> None:
    if len(written) != len(keys):
        there = next(k for k in keys if k not in written)
        # The caller's transaction must roll back: the size was already advanced.
        raise LogError(f"event {there!r} is already in the log", field="event_id", status=409)


async def _write_pg(
    session: AsyncSession,
    start: int,
    keys: Sequence[str],
    leaves: Sequence[bytes],
    nodes: Sequence[dict[str, Any]],
) -> None:
    params = {
        "nodes": orjson.dumps(
            [{"level": n["level"], "idx": n["idx"], "hash": n["hash"].hex()} for n in nodes]
        ).decode(),
        "leaves": orjson.dumps(
            [
                {"idx": start + j, "event_id": k, "hash": h.hex()}
                for j, (k, h) in enumerate(zip(keys, leaves, strict=True))
            ]
        ).decode(),
    }
    _refuse_logged(keys, set((await session.scalars(_PG_WRITE, params)).all()))


async def _write(
    session: AsyncSession,
    start: int,
    keys: Sequence[str],
    leaves: Sequence[bytes],
    nodes: Sequence[dict[str, Any]],
) -> None:
    """Any database (SQLite): executemany, one cached statement per table."""
    rows = [
        {"idx": start + j, "event_id": k, "leaf_hash": h}
        for j, (k, h) in enumerate(zip(keys, leaves, strict=True))
    ]
    stmt = (
        dialect_insert(session, LogLeaf.__table__)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(LogLeaf.__table__.c.event_id)
    )
    for i in range(0, len(rows), _CHUNK):
        chunk = rows[i : i + _CHUNK]
        _refuse_logged(
            [r["event_id"] for r in chunk], set((await session.scalars(stmt, chunk)).all())
        )
    for i in range(0, len(nodes), _CHUNK):
        await session.execute(insert(LogNode.__table__), list(nodes[i : i + _CHUNK]))


async def append_events(
    session: AsyncSession, items: Sequence[tuple[str, dict[str, Any]]]
) -> list[int]:
    """Append events (their log key, the event as stored) in the caller's transaction;
    their leaf indices, in order.

    The leaf is the RFC 8785 canonical JSON of the event: every field as stored
    (eventID, recordTime, errorDeclaration). An event twice in ``items``, or a value
    with no canonical form (:class:`~cloud.trace.log.canonical.CanonicalizationError`),
    is refused before anything is written. An event already in the log is refused
    (:class:`LogError`, 409) after the batch's writes began: the caller's transaction
    must roll back (it does when the error leaves ``Database.transaction()``).

    Round trips: the size (locking), the right edge of the tree, the leaves and the new
    subtree hashes (PostgreSQL: one statement of arrays; SQLite: one per table).
    """
    if not items:
        return []
    keys = [k for k, _ in items]
    if len(set(keys)) != len(keys):
        dup = next(k for i, k in enumerate(keys) if k in keys[:i])
        raise LogError(f"event {dup!r} is given twice", field="event_id")
    leaves = [merkle.leaf_hash(canonical_json(body)) for _, body in items]
    end = await _reserve(session, len(items))
    start = end - len(items)
    # The right edge of the tree before this batch: perfect subtrees, largest first.
    cover = merkle.perfect_cover(0, start) if start else []
    known = await _hashes(session, cover)
    stack: list[tuple[int, int, bytes]] = [(lv, i, known[(lv, i)]) for lv, i in cover]
    nodes: list[dict[str, Any]] = []
    for j, leaf in enumerate(leaves):
        stack.append((0, start + j, leaf))
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            lv, _, right = stack.pop()
            _, left_idx, left = stack.pop()
            h = merkle.node_hash(left, right)
            stack.append((lv + 1, left_idx >> 1, h))
            nodes.append({"level": lv + 1, "idx": left_idx >> 1, "hash": h})
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await _write_pg(session, start, keys, leaves, nodes)
    else:
        await _write(session, start, keys, leaves, nodes)
    return list(range(start, end))


# ------------------------------------------------------------------ signed heads


async def latest_checkpoint(session: AsyncSession, signer: NoteSigner) -> SignedHead:
    """The signed checkpoint of the log as it is now: taken from ``trace_log_heads``
    when this size was signed (by this key) before, else signed now and kept there.

    Writes in ``session``; the caller commits. Ed25519 signatures are deterministic,
    so two processes signing the same size at once write the same note.
    """
    size = await tree_size(session)
    kid = f"{signer.verifier.key_id:08x}"
    head = await session.get(LogHead, size)
    if head is not None and head.key_id == kid:
        return SignedHead(size, bytes(head.root_hash), head.note)
    root = await root_hash(session, size)
    note = sign_checkpoint(Checkpoint(signer.name, size, root), signer)
    values = {"tree_size": size, "root_hash": root, "key_id": kid, "note": note,
              "signed_at": utcnow()}  # fmt: skip
    stmt = dialect_insert(session, LogHead).values(values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tree_size"],
            set_={
                c: getattr(stmt.excluded, c) for c in ("root_hash", "key_id", "note", "signed_at")
            },
        )
    )
    return SignedHead(size, root, note)
