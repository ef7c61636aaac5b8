"""Completeness per gateway, so an official can tell "no data" from "not here yet".

- *complete up to*: the highest sequence number up to which every batch of the
  gateway is written (contiguous from the first batch the cloud saw);
- *gaps*: sequence numbers missing between that and the highest one written,
  listed as ranges;
- *pending*: the backlog the gateway itself reports in ``health``
  (batches sent and not yet acknowledged, readings buffered, the oldest of them).

Ingest calls :func:`advance` in the transaction that records written batches;
the API reads :func:`report`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.upsert import dialect_insert
from cloud.devices.storage import GatewayHealth, GatewaySeq
from cloud.ingest.storage import ReceivedBatch

#: At most this many gap ranges are listed.
MAX_RANGES = 100


async def _seqs_after(session: AsyncSession, gateway: str, after: int) -> list[int]:
    rows = await session.execute(
        select(ReceivedBatch.seq)
        .where(ReceivedBatch.gateway_id == gateway, ReceivedBatch.seq > after)
        .distinct()
        .order_by(ReceivedBatch.seq)
    )
    return list(rows.scalars())


_SEQ = GatewaySeq.__table__
_RB = ReceivedBatch.__table__


async def advance(session: AsyncSession, written: Mapping[str, Iterable[int]]) -> None:
    """Batches of each gateway (``written``: gateway -> their seqs) were just recorded
    (and flushed) in ``session``: advance the gateways' completeness.

    Three statements whatever the number of gateways: lock (and create, the first time)
    the gateways' rows, read the sequence numbers written since each one's contiguous
    seq, update the rows. The rows are locked in gateway order, so that two workers
    advancing overlapping gateways never deadlock; on SQLite the first statement is a
    write, which serialises the transaction with every other writer.
    """
    seqs = {gw: list(s) for gw, s in written.items()}
    seqs = {gw: s for gw, s in sorted(seqs.items()) if s}
    if not seqs:
        return
    # 1. Lock every row, creating the missing ones: an upsert whose no-op update locks
    # an existing row (and waits for a concurrent first insert of it), rows taken in
    # the order of the VALUES list. A new row is complete from the first batch the
    # cloud sees: a gateway's counter may not start at 0.
    ins = dialect_insert(session, GatewaySeq).values(
        [
            {"gateway_id": gw, "contiguous_seq": min(s) - 1, "max_seq": -1, "gaps": 0}
            for gw, s in seqs.items()
        ]
    )
    rows = await session.execute(
        ins.on_conflict_do_update(
            index_elements=[_SEQ.c.gateway_id],
            set_={"gateway_id": ins.excluded.gateway_id},
        ).returning(_SEQ.c.gateway_id, _SEQ.c.contiguous_seq, _SEQ.c.max_seq)
    )
    state = {gw: (contiguous, max_seq) for gw, contiguous, max_seq in rows}
    # 2. Every sequence number written after each gateway's contiguous one.
    later: dict[str, list[int]] = {gw: [] for gw in seqs}
    found = await session.execute(
        select(_RB.c.gateway_id, _RB.c.seq)
        .where(or_(*(and_(_RB.c.gateway_id == gw, _RB.c.seq > state[gw][0]) for gw in seqs)))
        .distinct()
        .order_by(_RB.c.gateway_id, _RB.c.seq)
    )
    for gw, s in found:
        later[gw].append(s)
    # 3. One update for all of them.
    values: dict[str, tuple[int, int, int]] = {}
    for gw, s in seqs.items():
        contiguous, max_seq = state[gw]
        max_seq = max(max_seq, *s)
        after = later[gw]
        for x in after:
            if x != contiguous + 1:
                break
            contiguous = x
        gaps = (max_seq - contiguous) - sum(1 for x in after if x > contiguous)
        values[gw] = (contiguous, max_seq, gaps)
    await session.execute(
        update(_SEQ)
        .where(_SEQ.c.gateway_id.in_(list(values)))
        .values(
            {
                col: case(
                    {gw: v[i] for gw, v in values.items()},
                    value=_SEQ.c.gateway_id,
                )
                for i, col in enumerate(("contiguous_seq", "max_seq", "gaps"))
            }
        )
    )


@dataclass(frozen=True, slots=True)
class Completeness:
    complete_up_to: int | None
    max_seq: int | None
    missing: int
    missing_ranges: list[tuple[int, int]]
    pending_batches: int | None
    buffer_depth: int | None
    buffer_oldest_ms: int | None
    health_ts_ms: int | None


async def report(session: AsyncSession, gateway: str) -> Completeness:
    row = await session.get(GatewaySeq, gateway)
    health = await session.get(GatewayHealth, gateway)
    ranges: list[tuple[int, int]] = []
    if row is not None and row.gaps:
        expected = row.contiguous_seq + 1
        for s in await _seqs_after(session, gateway, row.contiguous_seq):
            if s > expected and len(ranges) < MAX_RANGES:
                ranges.append((expected, s - 1))
            expected = s + 1
    return Completeness(
        complete_up_to=row.contiguous_seq if row is not None and row.contiguous_seq >= 0 else None,
        max_seq=row.max_seq if row is not None and row.max_seq >= 0 else None,
        missing=row.gaps if row is not None else 0,
        missing_ranges=ranges,
        pending_batches=health.pending_batches if health else None,
        buffer_depth=health.buffer_depth if health else None,
        buffer_oldest_ms=health.buffer_oldest_ms if health else None,
        health_ts_ms=health.ts_ms if health else None,
    )
