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

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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


async def advance(session: AsyncSession, gateway: str, seqs: Iterable[int], lock: bool) -> None:
    """Batches ``seqs`` of ``gateway`` were just recorded (and flushed) in ``session``."""
    seqs = list(seqs)
    if not seqs:
        return
    row = await session.get(GatewaySeq, gateway, with_for_update=lock)
    if row is None:
        # Complete from the first batch the cloud sees: a gateway's counter may not start at 0.
        row = GatewaySeq(gateway_id=gateway, contiguous_seq=min(seqs) - 1, max_seq=-1, gaps=0)
        session.add(row)
    row.max_seq = max(row.max_seq, *seqs)
    later = await _seqs_after(session, gateway, row.contiguous_seq)
    contiguous = row.contiguous_seq
    for s in later:
        if s != contiguous + 1:
            break
        contiguous = s
    row.contiguous_seq = contiguous
    row.gaps = (row.max_seq - contiguous) - sum(1 for s in later if s > contiguous)


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
