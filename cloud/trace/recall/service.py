"""A recall: from one lot, every lot and container reached forward or backward
(:mod:`cloud.trace.recall.graph`), each with its last custody
(:mod:`cloud.trace.recall.custody`) and, for registered lots, its certificates (三品一标
covering it, with validity now) and its own 承诺达标合格证; as JSON or CSV rows."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import utcnow
from cloud.trace.certificates import commitment
from cloud.trace.certificates.service import covering
from cloud.trace.epcis.identifiers import dl_uri
from cloud.trace.lots.storage import TraceLot
from cloud.trace.recall.custody import last_custody
from cloud.trace.recall.graph import Direction, Node, walk


async def _registered(
    session: AsyncSession, nodes: list[Node], counties: list[str] | None
) -> dict[Node, TraceLot]:
    keys = [(n.gtin, n.lot) for n in nodes if n.is_lot]
    out: dict[Node, TraceLot] = {}
    for start in range(0, len(keys), 500):
        q = select(TraceLot).where(
            tuple_(TraceLot.gtin, TraceLot.lot).in_(keys[start : start + 500])
        )
        if counties is not None:
            q = q.where(TraceLot.county.in_(counties))
        for lot in await session.scalars(q):
            out[Node(lot.gtin, lot.lot, "")] = lot
    return out


async def recall(
    session: AsyncSession,
    lot: TraceLot,
    direction: Direction,
    counties: list[str] | None,
    depth: int,
) -> dict[str, Any]:
    """The recall answer as JSON (see the router for its shape)."""
    now = utcnow()
    start = Node(lot.gtin, lot.lot, "")
    result = await walk(session, start, direction, counties, depth)
    nodes = [r.node for r in result.reached]
    registered = await _registered(session, nodes, counties)
    custody = await last_custody(session, nodes, counties)
    lots = list(registered.values())
    certs = await covering(session, lots)
    own = await commitment.of_lots(session, [x.id for x in lots])
    items: list[dict[str, Any]] = []
    for r in result.reached:
        node = r.node
        reg = registered.get(node)
        last = custody.get(node)
        items.append(
            {
                "depth": r.depth,
                "kind": "lot" if node.is_lot else "object",
                "gtin": node.gtin,
                "lot": node.lot,
                "uri": dl_uri(node.gtin, node.lot) if node.is_lot else node.uri,
                "registered": reg is not None,
                "county": None if reg is None else reg.county,
                "org_id": None if reg is None else reg.org_id,
                "via": None
                if r.via is None
                else {
                    "kind": r.via.kind,
                    "event_id": r.via.event_id,
                    "from": dl_uri(r.via.source.gtin, r.via.source.lot)
                    if r.via.source.is_lot
                    else r.via.source.uri,
                },
                "last_custody": None if last is None else last.as_json(),
                "certificates": []
                if reg is None
                else [
                    {
                        "id": c.certificate.id,
                        "type": c.certificate.type,
                        "number": c.certificate.number,
                        "valid_to": c.certificate.valid_to.isoformat(),
                        "valid_now": c.valid_at(now),
                    }
                    for c in certs[reg.id]
                ],
                "commitment_certificates": []
                if reg is None
                else [
                    {"number": c.number, "issued_at": c.issued_at.isoformat()} for c in own[reg.id]
                ],
            }
        )
    return {
        "direction": direction,
        "gtin": lot.gtin,
        "lot": lot.lot,
        "depth_limit": depth,
        "truncated": result.truncated,
        "generated_at": now.isoformat(),
        "items": items,
    }


CSV_COLUMNS = (
    "direction", "depth", "kind", "gtin", "lot", "uri", "registered", "county",
    "via_kind", "via_event_id", "via_from",
    "last_event_time", "last_biz_step", "last_disposition", "last_biz_location",
    "last_biz_location_name", "last_read_point", "last_read_point_name",
    "last_destinations", "last_sources", "last_event_id",
    "certificates", "commitment_certificates",
)  # fmt: skip


#: a spreadsheet reads a cell starting with one of these as a formula (CSV injection)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A text cell that would start a formula is prefixed with ' (OWASP's advice)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _parties(items: list[dict[str, str]]) -> str:
    return " ".join(f"{p['type']}={p['id']}" if p["type"] else p["id"] for p in items)


def as_csv(answer: dict[str, Any]) -> str:
    """One row per reached node (UTF-8 with a BOM, so spreadsheets read the Chinese);
    a text cell that would start a formula gets a leading ``'``."""
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for item in answer["items"]:
        via = item["via"] or {}
        last = item["last_custody"] or {}
        w.writerow(
            _cell(v)
            for v in [
                answer["direction"], item["depth"], item["kind"], item["gtin"] or "",
                item["lot"] or "", item["uri"], str(item["registered"]).lower(),
                item["county"] or "", via.get("kind", ""), via.get("event_id") or "",
                via.get("from", ""), last.get("event_time", ""), last.get("biz_step") or "",
                last.get("disposition") or "", last.get("biz_location") or "",
                last.get("biz_location_name") or "", last.get("read_point") or "",
                last.get("read_point_name") or "", _parties(last.get("destinations", [])),
                _parties(last.get("sources", [])), last.get("event_id", ""),
                " ".join(f"{c['type']}:{c['number']}{'' if c['valid_now'] else '(invalid)'}"
                         for c in item["certificates"]),
                " ".join(c["number"] for c in item["commitment_certificates"]),
            ]
        )  # fmt: skip
    return buf.getvalue()
