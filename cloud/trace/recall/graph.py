"""Walk the lot graph forward (what a lot went into) or backward (what it came from).

Nodes are lots (GTIN + lot number, however an event names them: a lot class in a
quantity list, or an instance carrying AI 10) and other objects by their normalised
URI (a case or pallet SSCC, an instance without a lot). Edges, forward:

- **transformation**: each input of a TransformationEvent -> each of its outputs;
- **aggregation**: each child of an AggregationEvent with action ADD or OBSERVE (child
  EPCs and child quantities) -> its parent (a case, a pallet). DELETE unpacks: it adds
  no edge, and the packing it undoes is still history (the container did hold it);
- **registration**: a registered lot's parent lots (``trace_lot_parents``) -> the lot.

Events declared in error are left out (their corrective events carry the truth), and
only events of the counties the reader sees are followed.

**The walk** is breadth-first, one level at a time: each level is three indexed
queries over the whole frontier (lots by ``(gtin, lot)``, objects by ``uri``, lot
parents by id), and a node already reached is never expanded again. So the walk is
cycle-safe by construction (a cycle, e.g. a mis-keyed event making a lot its own
ancestor, ends where it closes) and costs one visit per node however many paths
lead to it: five levels are about fifteen index lookups, each over the frontier. (A
recursive CTE cannot keep such a visited set on both databases: without one it walks a
node again for every path to it, and PostgreSQL forbids the two recursive references
the lot-parent edges would need.)

Limits: ``depth`` levels (default :data:`DEFAULT_DEPTH`, at most :data:`MAX_DEPTH`) and
:data:`MAX_NODES` nodes; the answer says ``truncated`` when either stopped the walk
while there was more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from sqlalchemy import Select, and_, bindparam, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.lots.storage import TraceLot, TraceLotParent

Direction = Literal["forward", "backward"]

DEFAULT_DEPTH = 10
MAX_DEPTH = 20
MAX_NODES = 10_000
_CHUNK = 500

INPUT_ROLES = ("input_epc", "input_quantity")
OUTPUT_ROLES = ("output_epc", "output_quantity")
CHILD_ROLES = ("child", "quantity")
PARENT_ROLES = ("parent",)
PACKING_ACTIONS = ("ADD", "OBSERVE")


@dataclass(frozen=True, slots=True)
class Node:
    """A lot (``gtin`` and ``lot`` set, ``uri`` empty) or another object (``uri``)."""

    gtin: str | None
    lot: str | None
    uri: str

    @property
    def is_lot(self) -> bool:
        return self.gtin is not None and self.lot is not None

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (self.gtin or "", self.lot or "", self.uri)

    @staticmethod
    def of(gtin: str | None, lot: str | None, uri: str) -> Node:
        return (
            Node(gtin, lot, "") if gtin is not None and lot is not None else Node(None, None, uri)
        )


@dataclass(frozen=True, slots=True)
class Via:
    """How a node was first reached: from ``source`` by an event (``event_id``, its type)
    or by registration (``event_id`` None, kind ``registration``)."""

    source: Node
    kind: Literal["transformation", "aggregation", "registration"]
    event_id: str | None


@dataclass(frozen=True, slots=True)
class Reached:
    node: Node
    depth: int
    via: Via | None


@dataclass(frozen=True, slots=True)
class Walk:
    reached: list[Reached]
    truncated: bool


def _edge_filter(direction: Direction, i: Any, o: Any) -> Any:
    """Which (from-object ``i``, to-object ``o``) pairs of one event are edges."""
    src_t, dst_t = (
        (INPUT_ROLES, OUTPUT_ROLES) if direction == "forward" else (OUTPUT_ROLES, INPUT_ROLES)
    )
    src_a, dst_a = (
        (CHILD_ROLES, PARENT_ROLES) if direction == "forward" else (PARENT_ROLES, CHILD_ROLES)
    )
    return or_(
        and_(TraceEvent.event_type == "TransformationEvent", i.role.in_(src_t), o.role.in_(dst_t)),
        and_(
            TraceEvent.event_type == "AggregationEvent",
            TraceEvent.action.in_(PACKING_ACTIONS),
            i.role.in_(src_a),
            o.role.in_(dst_a),
        ),
    )  # fmt: skip


@cache
def _event_edges(direction: Direction, by: Literal["lot", "uri"], scoped: bool) -> Select[Any]:
    """The event edges leaving the frontier, built once per shape (building a query costs
    more than running it): parameters ``keys`` ((gtin, lot) pairs) or ``uris``, and
    ``counties`` when ``scoped``."""
    i = aliased(TraceEventObject)
    o = aliased(TraceEventObject)
    match = (
        tuple_(i.gtin, i.lot).in_(bindparam("keys", expanding=True))
        if by == "lot"
        else and_(i.uri.in_(bindparam("uris", expanding=True)), i.lot.is_(None))
    )
    q = (
        select(i.gtin, i.lot, i.uri, o.gtin, o.lot, o.uri, TraceEvent.event_id, TraceEvent.event_type)
        .select_from(i)
        .join(TraceEvent, TraceEvent.seq == i.event_seq)
        .join(o, o.event_seq == i.event_seq)
        .where(match, TraceEvent.error_declaration.is_(None), _edge_filter(direction, i, o))
    )  # fmt: skip
    if scoped:
        q = q.where(TraceEvent.county.in_(bindparam("counties", expanding=True)))
    return q


@cache
def _registered_edges(direction: Direction, scoped: bool) -> Select[Any]:
    """Edges of registered lot parents (parent -> child forward), built once per shape."""
    src = aliased(TraceLot)
    dst = aliased(TraceLot)
    src_col, dst_col = (
        (TraceLotParent.parent_id, TraceLotParent.lot_id)
        if direction == "forward"
        else (TraceLotParent.lot_id, TraceLotParent.parent_id)
    )
    q = (
        select(src.gtin, src.lot, dst.gtin, dst.lot)
        .select_from(TraceLotParent)
        .join(src, src.id == src_col)
        .join(dst, dst.id == dst_col)
        .where(tuple_(src.gtin, src.lot).in_(bindparam("keys", expanding=True)))
    )
    if scoped:
        q = q.where(dst.county.in_(bindparam("counties", expanding=True)))
    return q


async def _step(
    session: AsyncSession,
    frontier: Sequence[Node],
    direction: Direction,
    counties: list[str] | None,
) -> list[tuple[Node, Node, Via]]:
    """Every edge leaving the frontier: (from, to, via)."""
    out: list[tuple[Node, Node, Via]] = []
    scoped = counties is not None
    extra: dict[str, Any] = {"counties": counties} if scoped else {}
    lots = [(n.gtin, n.lot) for n in frontier if n.is_lot]
    uris = [n.uri for n in frontier if not n.is_lot]
    for start in range(0, len(lots), _CHUNK):
        keys = lots[start : start + _CHUNK]
        q = _event_edges(direction, "lot", scoped)
        out.extend(_edges(await session.execute(q, {"keys": keys, **extra})))
        q = _registered_edges(direction, scoped)
        for sg, sl, dg, dl in await session.execute(q, {"keys": keys, **extra}):
            source = Node(sg, sl, "")
            out.append((source, Node(dg, dl, ""), Via(source, "registration", None)))
    for start in range(0, len(uris), _CHUNK):
        q = _event_edges(direction, "uri", scoped)
        out.extend(
            _edges(await session.execute(q, {"uris": uris[start : start + _CHUNK], **extra}))
        )
    return out


def _edges(rows: Iterable[Any]) -> list[tuple[Node, Node, Via]]:
    found: list[tuple[Node, Node, Via]] = []
    for sg, sl, su, dg, dl, du, event_id, event_type in rows:
        kind: Literal["transformation", "aggregation"] = (
            "transformation" if event_type == "TransformationEvent" else "aggregation"
        )
        source = Node.of(sg, sl, su)
        found.append((source, Node.of(dg, dl, du), Via(source, kind, event_id)))
    return found


async def walk(
    session: AsyncSession,
    start: Node,
    direction: Direction,
    counties: list[str] | None,
    depth: int = DEFAULT_DEPTH,
) -> Walk:
    """Every node reached from ``start`` within ``depth`` levels (``start`` first, at
    depth 0), breadth first; each node once, at its shortest depth."""
    seen: dict[Node, Reached] = {start: Reached(start, 0, None)}
    frontier = [start]
    truncated = False
    for level in range(1, depth + 1):
        if not frontier:
            break
        nxt: list[Node] = []
        for _source, target, via in sorted(await _step(session, frontier, direction, counties),
                                           key=lambda e: (e[1].sort_key, e[2].event_id or "")):  # fmt: skip
            if target in seen:
                continue
            if len(seen) >= MAX_NODES:
                truncated = True
                break
            seen[target] = Reached(target, level, via)
            nxt.append(target)
        frontier = nxt
        if truncated:
            break
    else:
        # the depth limit stopped the walk: was there more?
        if frontier and any(
            t not in seen for _, t, _ in await _step(session, frontier, direction, counties)
        ):
            truncated = True
    return Walk(list(seen.values()), truncated)
