"""The events custody is derived from: those naming the lot (its class or its
instances), and those naming the containers it was aggregated into, container of
container included (:func:`cloud.trace.custody.rules.containers_named`)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.trace.custody.rules import LOT, MAX_DEPTH, Fact, containers_named
from cloud.trace.events.storage import TraceEvent, TraceEventObject

_CHUNK = 500


async def lot_facts(session: AsyncSession, gtin: str, lot: str) -> list[Fact]:
    """Every fact bearing on the lot's custody, in no particular order."""
    seqs = set(
        await session.scalars(
            select(TraceEventObject.event_seq).where(
                TraceEventObject.gtin == gtin, TraceEventObject.lot == lot
            )
        )
    )
    facts = await _load(session, seqs, gtin, lot)
    loaded = set(seqs)
    known: set[str] = set()
    for _ in range(MAX_DEPTH):
        new = containers_named(facts, known)
        if not new:
            break
        known |= new
        more: set[int] = set()
        for chunk in _chunks(sorted(new)):
            more.update(
                await session.scalars(
                    select(TraceEventObject.event_seq).where(TraceEventObject.uri.in_(chunk))
                )
            )
        more -= loaded
        loaded |= more
        facts += await _load(session, more, gtin, lot)
    return facts


def _chunks(items: list[str] | list[int]) -> Iterable[list]:  # type: ignore[type-arg]
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


async def _load(session: AsyncSession, seqs: set[int], gtin: str, lot: str) -> list[Fact]:
    objects: dict[int, list[tuple[str, str]]] = {s: [] for s in seqs}
    rows: list[tuple[int, str, str, object, str | None, str | None, str | None, object]] = []
    for chunk in _chunks(sorted(seqs)):
        q = select(
            TraceEventObject.event_seq,
            TraceEventObject.role,
            TraceEventObject.uri,
            TraceEventObject.gtin,
            TraceEventObject.lot,
        ).where(TraceEventObject.event_seq.in_(chunk))
        for seq, role, uri, g, n in await session.execute(q):
            objects[seq].append((role, LOT if (g, n) == (gtin, lot) else uri))
        q2 = select(
            TraceEvent.seq,
            TraceEvent.event_id,
            TraceEvent.event_type,
            TraceEvent.event_time,
            TraceEvent.action,
            TraceEvent.biz_step,
            TraceEvent.biz_location,
            TraceEvent.declared_at,
        ).where(TraceEvent.seq.in_(chunk))
        rows.extend(tuple(r) for r in await session.execute(q2))  # type: ignore[misc]
    return [
        Fact(
            seq=seq,
            event_id=event_id,
            event_type=event_type,
            event_time=event_time,  # type: ignore[arg-type]
            action=action,
            biz_step=biz_step,
            biz_location=biz_location,
            objects=tuple(objects[seq]),
            declared=declared_at is not None,
        )
        for seq, event_id, event_type, event_time, action, biz_step, biz_location, declared_at in rows
    ]
