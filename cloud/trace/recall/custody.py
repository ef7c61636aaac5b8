"""The last custody of each node a recall reaches: its latest event (by eventTime, not
declared in error, in the counties the reader sees), where that was (bizLocation and
readPoint, with the catalog's names), and, for a shipment or receipt, where it went
(destinationList) and where from (sourceList)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.catalog.service import get_location_by_gln
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.recall.graph import Node

_CHUNK = 500
_SOURCE_DEST_FORMS = ("https://ref.gs1.org/cbv/SDT-", "urn:epcglobal:cbv:sdt:")


@dataclass(frozen=True, slots=True)
class Custody:
    event_id: str
    event_type: str
    event_time: datetime
    biz_step: str | None
    disposition: str | None
    biz_location: str | None
    biz_location_name: str | None
    read_point: str | None
    read_point_name: str | None
    sources: list[dict[str, str]]
    destinations: list[dict[str, str]]

    def as_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "event_time": self.event_time.isoformat(),
            "biz_step": self.biz_step,
            "disposition": self.disposition,
            "biz_location": self.biz_location,
            "biz_location_name": self.biz_location_name,
            "read_point": self.read_point,
            "read_point_name": self.read_point_name,
            "sources": self.sources,
            "destinations": self.destinations,
        }


def _parties(value: Any, key: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if not isinstance(value, list):
        return out
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get(key), str):
            continue
        kind = str(item.get("type", ""))
        for form in _SOURCE_DEST_FORMS:
            kind = kind.removeprefix(form)
        out.append({"type": kind, "id": item[key]})
    return out


def _latest(node_key: Sequence[Any], counties: list[str] | None) -> Any:
    rank = func.row_number().over(
        partition_by=node_key,
        order_by=(TraceEvent.event_time.desc(), TraceEvent.seq.desc()),
    )
    q = (
        select(
            *node_key,
            TraceEvent.event_id,
            TraceEvent.event_type,
            TraceEvent.event_time,
            TraceEvent.biz_step,
            TraceEvent.disposition,
            TraceEvent.biz_location,
            TraceEvent.read_point,
            TraceEvent.body,
            rank.label("rank"),
        )
        .select_from(TraceEventObject)
        .join(TraceEvent, TraceEvent.seq == TraceEventObject.event_seq)
        .where(TraceEvent.error_declaration.is_(None))
    )
    if counties is not None:
        q = q.where(TraceEvent.county.in_(counties))
    return q


async def _names(session: AsyncSession, places: set[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for place in sorted(places):
        loc = await get_location_by_gln(session, place)
        if loc is not None:
            names[place] = loc.name
    return names


async def last_custody(
    session: AsyncSession, nodes: Sequence[Node], counties: list[str] | None
) -> dict[Node, Custody]:
    """Each node's last custody (nodes with no visible event are left out)."""
    rows: list[tuple[Node, Any]] = []
    lots = [n for n in nodes if n.is_lot]
    objects = [n for n in nodes if not n.is_lot]
    for start in range(0, len(lots), _CHUNK):
        keys = [(n.gtin, n.lot) for n in lots[start : start + _CHUNK]]
        inner = (
            _latest([TraceEventObject.gtin, TraceEventObject.lot], counties)
            .where(tuple_(TraceEventObject.gtin, TraceEventObject.lot).in_(keys))
            .subquery()
        )
        for r in await session.execute(select(inner).where(inner.c.rank == 1)):
            rows.append((Node(r.gtin, r.lot, ""), r))
    for start in range(0, len(objects), _CHUNK):
        uris = [n.uri for n in objects[start : start + _CHUNK]]
        inner = (
            _latest([TraceEventObject.uri], counties)
            .where(TraceEventObject.uri.in_(uris), TraceEventObject.lot.is_(None))
            .subquery()
        )
        for r in await session.execute(select(inner).where(inner.c.rank == 1)):
            rows.append((Node(None, None, r.uri), r))
    places = {p for _, r in rows for p in (r.biz_location, r.read_point) if p}
    names = await _names(session, places)
    out: dict[Node, Custody] = {}
    for node, r in rows:
        body = r.body or {}
        out[node] = Custody(
            event_id=r.event_id,
            event_type=r.event_type,
            event_time=r.event_time,
            biz_step=r.biz_step,
            disposition=r.disposition,
            biz_location=r.biz_location,
            biz_location_name=names.get(r.biz_location) if r.biz_location else None,
            read_point=r.read_point,
            read_point_name=names.get(r.read_point) if r.read_point else None,
            sources=_parties(body.get("sourceList"), "source"),
            destinations=_parties(body.get("destinationList"), "destination"),
        )
    return out
