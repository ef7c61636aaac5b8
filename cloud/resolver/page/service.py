"""The consumer trace page's data: one dict, served as JSON
(``GET /api/v1/public/trace/{gtin}/{lot}``) and rendered as HTML (:mod:`.views`).

What it holds, in the page's order: the product and lot; the regional brand (evaluated
now, read-only); origin (base, county, map); the producer and the lot's 承诺达标合格证;
the 三品一标 certificates covering the lot with their validity; the timeline of steps
from the EPCIS events of the lot, of its containers (as custody reads them) and of the
lots it was made from (recall, backward); each custody interval with its cold-chain
evidence and the series behind it; the camera grading; and the **bundle** the browser
verifies: every event shown, as stored, with its inclusion proof under the log's
latest signed checkpoint (``dehong-trace-page-proofs/1``: a lot bundle's members,
events that may name a person given by their leaf hash only).

Personal data (decision): nothing beyond the 合格证's promising entity. The promising
entity is the lot's organisation: its name, its USCC (printed on the national template;
a public registration number of an organisation) and the contact the certificate
carries (by law, even when the entity is a farmer). Not shown: any organisation's
contact person or phone from the catalog, other organisations (carriers, buyers,
receivers), ``dh:buyer``/``dh:order``/``dh:note`` and ``destinationList`` /
``sourceList`` parties of events in the timeline, vehicle names (a vehicle is shown as
its kind: names there are plates or drivers), device ids. The proofs carry the events
as stored (the browser recomputes each leaf from its bytes), except those with an
extension that may name a person (``dh:buyer``, ``dh:order``, ``dh:note``): these
are given by their leaf hash (:func:`bundle`). ``tests/cloud/test_trace_page.py``
checks every personal field of the seeded data against the HTML and the JSON.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.catalog.categories import NAMES as CATALOG_CATEGORY_NAMES
from cloud.catalog.lookup import get_location_by_gln, get_product_by_gtin
from cloud.catalog.storage import Location, Organisation, ProductionBase
from cloud.db import utcnow
from cloud.devices.storage import Device
from cloud.inspections.storage import InspectionRecord
from cloud.resolver.page import maps
from cloud.timeseries import TimeSeriesError, TimeSeriesStore, query
from cloud.timeseries.rollup import rollup_state
from cloud.trace.brand.evaluate import evaluate
from cloud.trace.brand.service import current_rules, facts_of
from cloud.trace.certificates import commitment
from cloud.trace.certificates.kinds import BASIS_NAMES, TYPE_NAMES, beijing_date
from cloud.trace.certificates.printing import PROMISES, quantity_text
from cloud.trace.certificates.service import covering
from cloud.trace.custody.service import IntervalView, custody_of
from cloud.trace.custody.sources import lot_facts
from cloud.trace.epcis.identifiers import dl_uri
from cloud.trace.events.log import declaration_leaf_id
from cloud.trace.events.storage import TraceEvent
from cloud.trace.log import service as tlog
from cloud.trace.log.canonical import canonical_json
from cloud.trace.log.checkpoint import NoteSigner
from cloud.trace.log.keys import LogKeyError, load_signer
from cloud.trace.log.merkle import leaf_hash
from cloud.trace.lots.storage import TraceLot
from cloud.trace.recall.graph import Node, walk
from cloud.trace.results.service import inspections_of
from cloud.trace.results.storage import TraceTestResult

PROOFS_FORMAT = "dehong-trace-page-proofs/1"
#: how far back the timeline follows the lots this one was made from
ANCESTOR_DEPTH = 3
#: the camera grading's counts shown (the largest)
GRADING_COUNTS = 6
#: points per chart (the series is read in windows of span / this)
CHART_POINTS = 120

#: the timeline's steps, in the issue's words
STEPS: dict[str, tuple[str, str]] = {
    "harvest": ("采收", "harvest"),
    "processing": ("加工", "processing"),
    "packing": ("包装", "packing"),
    "test": ("检测", "test"),
    "storage": ("储存", "storage"),
    "transport": ("运输", "transport"),
    "receiving": ("收货", "receiving"),
    "sale": ("销售", "sale"),
    "other": ("其他", "other"),
}
_STEP_OF_BIZSTEP = {
    "commissioning": "harvest",
    "packing": "packing",
    "inspecting": "test",
    "sampling": "test",
    "storing": "storage",
    "loading": "transport",
    "shipping": "transport",
    "departing": "transport",
    "transporting": "transport",
    "receiving": "receiving",
    "arriving": "receiving",
    "accepting": "receiving",
    "retail_selling": "sale",
}
PROCESS_NAMES: dict[str, tuple[str, str]] = {
    "pulping": ("脱皮", "pulping"), "fermenting": ("发酵", "fermenting"),
    "washing": ("水洗", "washing"), "drying": ("干燥", "drying"),
    "hulling": ("脱壳", "hulling"), "grading": ("分级", "grading"),
    "roasting": ("烘焙", "roasting"), "sorting": ("分选", "sorting"),
    "other": ("其他", "other"),
}  # fmt: skip
LOCATION_KINDS: dict[str, tuple[str, str]] = {
    "cold_room": ("冷库", "cold room"), "warehouse": ("仓库", "warehouse"),
    "station": ("服务站", "station"), "processing_site": ("加工点", "processing site"),
    "vehicle_compartment": ("冷链运输车厢", "refrigerated vehicle"),
    "shop": ("门店", "shop"), "base": ("基地", "base"),
}  # fmt: skip
TEST_NAMES: dict[str, tuple[str, str]] = {
    "pesticide_residue": ("农药残留", "pesticide residue"),
    "moisture": ("含水量", "moisture"),
    "heavy_metal": ("重金属", "heavy metals"),
    "veterinary_drug": ("兽药残留", "veterinary drug residue"),
}
#: the catalog's category names (cloud/catalog/categories.py)
CATEGORY_NAMES: dict[str, tuple[str, str]] = CATALOG_CATEGORY_NAMES
BRAND_RULES: dict[str, tuple[str, str]] = {
    "certificate": ("持有三品一标认证", "holds a 三品一标 certificate"),
    "commitment_certificate": ("开具承诺达标合格证", "has its 承诺达标合格证"),
    "test_passed_within_days": ("近期农残检测合格", "a recent residue test passed"),
    "cold_chain_compliant": ("冷链全程合规", "cold chain within range throughout"),
    "camera_grade_at_least": ("机器视觉分级达标", "camera grade at or above the bar"),
}
STATE_NAMES: dict[str, tuple[str, str]] = {
    "met": ("符合", "met"), "not_met": ("不符合", "not met"), "unknown": ("待定", "unknown"),
    "not_applicable": ("不适用", "not applicable"),
}  # fmt: skip
EVIDENCE_STATUS: dict[str, tuple[str, str]] = {
    "pass": ("温度全程合规", "within range"),
    "excursion": ("出现温度偏离", "excursion"),
    "insufficient_data": ("数据不足", "insufficient data"),
    "no_profile": ("无温控要求", "no profile"),
}


def zh_en(table: dict[str, tuple[str, str]], key: str | None) -> dict[str, str]:
    zh, en = table.get(key or "", (key or "", key or ""))
    return {"zh": zh, "en": en}


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _num(v: Decimal | float | None) -> float | None:
    return None if v is None else float(v)


async def find_lot(session: AsyncSession, gtin: str, lot: str) -> TraceLot | None:
    return await session.scalar(select(TraceLot).where(TraceLot.gtin == gtin, TraceLot.lot == lot))


# ------------------------------------------------------------------ sections


async def _origin(session: AsyncSession, lot: TraceLot) -> dict[str, Any]:
    base = None
    if lot.origin_base_id is not None:
        base = await session.get(ProductionBase, lot.origin_base_id)
    county = base.county if base is not None else lot.county
    names = maps.county_names(county)
    m = maps.county_map(county, (base.lon, base.lat) if base is not None else None)
    return {
        "county": county,
        "county_name": None if names is None else {"zh": names[0], "en": names[1]},
        "base": None
        if base is None
        else {
            "name": base.name,
            "kind": base.kind,
            "lon": round(base.lon, 4),
            "lat": round(base.lat, 4),
            "area_ha": base.area_ha,
        },
        "map": None
        if m is None
        else {
            "width": m.width,
            "height": m.height,
            "outline": m.outline,
            "base": m.base,
        },
    }


async def _commitment(session: AsyncSession, lot: TraceLot, org: Organisation | None) -> Any:
    certs = await commitment.of_lot(session, lot.id)
    if not certs:
        return None
    cert = max(certs, key=lambda c: (c.issued_at, c.id))
    day = beijing_date(cert.issued_at)
    return {
        "title": "承诺达标合格证",
        "number": cert.number,
        "product_name": cert.product_name,
        "quantity": quantity_text(cert.quantity, cert.unit),
        "origin": cert.origin,
        # the promising entity: name and contact are part of the certificate by law
        "entity": {
            "name": org.name if org is not None else None,
            "uscc": org.uscc if org is not None else None,
        },
        "contact": cert.contact,
        "issued_on": day.isoformat(),
        "basis": cert.basis,
        "basis_name": zh_en(BASIS_NAMES, cert.basis),
        "bases": [{"code": k, "zh": zh, "en": en} for k, (zh, en) in BASIS_NAMES.items()],
        "promises": [{"zh": zh, "en": en} for zh, en in PROMISES],
        "count": len(certs),
    }


async def _certificates(session: AsyncSession, lot: TraceLot, now: datetime) -> list[Any]:
    out = []
    for c in (await covering(session, [lot])).get(lot.id, []):
        cert = c.certificate
        out.append(
            {
                "type": cert.type,
                "type_name": zh_en(TYPE_NAMES, cert.type),
                "number": cert.number,
                "holder": cert.holder_name,
                "issuer": cert.issuer,
                "valid_from": cert.valid_from.isoformat(),
                "valid_to": cert.valid_to.isoformat(),
                "valid_now": c.valid_at(now),
            }
        )
    out.sort(key=lambda c: (not c["valid_now"], c["valid_to"]))
    return out


async def _brand(session: AsyncSession, lot: TraceLot, now: datetime) -> dict[str, Any]:
    """Evaluated now, read-only (a decision is recorded by the operators' reads, the
    writes and the sweep; a public page view records nothing)."""
    rules = await current_rules(session)
    ev = await evaluate(session, await facts_of(session, lot), rules.rules, rules.version, now)
    return {
        "granted": ev.granted,
        "ruleset_version": ev.ruleset_version,
        "rules": [
            {
                "kind": s.rule.get("kind"),
                "name": zh_en(BRAND_RULES, s.rule.get("kind")),
                "state": s.state,
                "state_name": zh_en(STATE_NAMES, s.state),
            }
            for s in ev.states
        ],
    }


def _step(row: TraceEvent) -> str | None:
    if row.biz_step == "sensor_reporting":
        return None
    if row.event_type == "TransformationEvent":
        return "processing"
    return _STEP_OF_BIZSTEP.get(row.biz_step or "", "other")


def _ext(body: dict[str, Any], name: str) -> Any:
    for k, v in body.items():
        if k.endswith(f":{name}"):
            return v
    return None


async def _events(
    session: AsyncSession, lot: TraceLot
) -> tuple[list[TraceEvent], dict[int, tuple[str, str]]]:
    """The events shown and verified: those custody reads for the lot (its own and its
    containers'), and those of the lots it was made from (same county), oldest first;
    with the lot each was found through."""
    start = Node(lot.gtin, lot.lot, "")
    ancestors = await walk(session, start, "backward", [lot.county], ANCESTOR_DEPTH)
    keys = [(r.node.gtin, r.node.lot) for r in ancestors.reached if r.node.is_lot]
    if (lot.gtin, lot.lot) not in keys:
        keys.insert(0, (lot.gtin, lot.lot))
    via: dict[int, tuple[str, str]] = {}
    for g, n in keys:
        assert g is not None and n is not None
        for fact in await lot_facts(session, g, n):
            via.setdefault(fact.seq, (g, n))
    rows: list[TraceEvent] = []
    seqs = sorted(via)
    for i in range(0, len(seqs), 500):
        rows.extend(
            await session.scalars(
                select(TraceEvent).where(
                    TraceEvent.seq.in_(seqs[i : i + 500]), TraceEvent.county == lot.county
                )
            )
        )
    rows.sort(key=lambda r: (r.event_time, r.seq))
    return rows, via


async def _place(
    session: AsyncSession, uri: str | None, cache: dict[str, Location | None]
) -> dict[str, Any] | None:
    if uri is None:
        return None
    if uri not in cache:
        cache[uri] = await get_location_by_gln(session, uri)
    loc = cache[uri]
    if loc is None:
        return {"name": None, "kind": None, "kind_name": None}
    kind_name = zh_en(LOCATION_KINDS, loc.kind)
    # a vehicle is shown as its kind only: its name is a plate or a driver's
    name = None if loc.kind == "vehicle_compartment" else loc.name
    return {"name": name, "kind": loc.kind, "kind_name": kind_name}


def _result(r: TraceTestResult) -> dict[str, Any]:
    return {
        "test": r.test,
        "test_name": zh_en(TEST_NAMES, r.test),
        "analyte": r.analyte,
        "value": r.value,
        "unit": r.unit,
        "limit_max": r.limit_max,
        "limit_min": r.limit_min,
        "passed": r.passed,
        "method": r.method,
        "lab": r.lab,
    }


async def _timeline(
    session: AsyncSession,
    lot: TraceLot,
    rows: list[TraceEvent],
    via: dict[int, tuple[str, str]],
    places: dict[str, Location | None],
) -> list[dict[str, Any]]:
    results: dict[int, list[TraceTestResult]] = {}
    seqs = [r.seq for r in rows]
    for i in range(0, len(seqs), 500):
        for res in await session.scalars(
            select(TraceTestResult)
            .where(TraceTestResult.event_seq.in_(seqs[i : i + 500]))
            .order_by(TraceTestResult.event_seq, TraceTestResult.position)
        ):
            results.setdefault(res.event_seq, []).append(res)
    out = []
    for row in rows:
        step = _step(row)
        if step is None:
            continue
        g, n = via.get(row.seq, (lot.gtin, lot.lot))
        process = _ext(row.body, "process")
        out.append(
            {
                "event_id": row.event_id,
                "time": _iso(row.event_time),
                "offset": row.event_tz_offset,
                "step": step,
                "step_name": zh_en(STEPS, step),
                "biz_step": row.biz_step,
                "process": zh_en(PROCESS_NAMES, process) if isinstance(process, str) else None,
                "place": await _place(session, row.biz_location, places),
                "lot": None if (g, n) == (lot.gtin, lot.lot) else {"gtin": g, "lot": n},
                "declared": row.error_declaration is not None,
                "results": [_result(r) for r in results.get(row.seq, [])],
            }
        )
    return out


async def _series(
    session: AsyncSession,
    tsdb: TimeSeriesStore,
    county: str,
    element: dict[str, Any],
    start_ms: int,
    end_ms: int,
) -> list[list[float | None]]:
    """The device's temperature over its piece of the interval, in windows; a window
    with no reading is absent (the chart draws a gap where windows are missing).

    Read through the query layer (:func:`cloud.timeseries.query.windows`), as the
    series API reads: the windows are whole minutes, so they come from the roll-ups
    (whole hours from its per-process cache), with raw points only where the roll-ups
    cannot answer (the live minutes, the partial windows at the ends): the same means
    as from raw points, without reading days of raw points on every page view."""
    temp = element.get("readings", {}).get("temperature")
    if not temp:
        return []
    device = element["device"]
    every = _every(start_ms, end_ms)
    # the device's kind is its measurement (as the series API reads it); the store's
    # index (a query to InfluxDB) only for a device the registry does not know
    known = await session.get(Device, device)
    measurement = (
        known.kind if known is not None else await tsdb.measurement_of(device, counties=[county])
    )
    if measurement is None:
        return []
    _, found = await query.windows(
        tsdb, measurement, [device], temp["metric"], start_ms, end_ms, every,
        rollups=partial(rollup_state, session), counties=[county],
    )  # fmt: skip
    return [[b.ts_ms, None if b.mean is None else round(b.mean, 2)] for b in found.get(device, [])]


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


async def _custody(
    session: AsyncSession,
    tsdb: TimeSeriesStore | None,
    lot: TraceLot,
    views: list[IntervalView],
) -> list[dict[str, Any]]:
    out = []
    now_ms = int(time.time() * 1000)
    for v in views:
        i, loc = v.interval, v.location
        place = None
        if loc is not None:
            place = {
                "name": None if loc.kind == "vehicle_compartment" else loc.name,
                "kind": loc.kind,
                "kind_name": zh_en(LOCATION_KINDS, loc.kind),
            }
        item: dict[str, Any] = {
            "start": _iso(i.start),
            "end": _iso(i.end),
            "place": place,
            "state": "evidenced" if v.evidence else ("measured" if v.measured else "unmeasured"),
            "evidence": None,
        }
        if v.evidence:
            row = v.evidence[0]
            figures = row.figures or {}
            temp = figures.get("summary", {}).get("temperature") or {}
            limits = figures.get("limits")
            start_ms = int(i.start.timestamp() * 1000)
            end_ms = int(row.period_end.timestamp() * 1000) if row.period_end else now_ms
            series = []
            if tsdb is not None:
                for element in figures.get("elements", []):
                    try:
                        points = await _series(
                            session, tsdb, loc.county if loc else lot.county, element,
                            max(start_ms, _ms(element["start"])), min(end_ms, _ms(element["end"])),
                        )  # fmt: skip
                    except TimeSeriesError:
                        points = []
                    series.append({"points": points, "every_ms": _every(start_ms, end_ms)})
            item["evidence"] = {
                "event_id": row.event_id,
                "status": row.status,
                "status_name": zh_en(EVIDENCE_STATUS, row.status),
                "coverage": row.coverage,
                "start_ms": start_ms,
                "end_ms": end_ms,
                "min": temp.get("min"),
                "max": temp.get("max"),
                "mean": temp.get("mean"),
                "mkt": temp.get("mkt"),
                "seconds_below": temp.get("seconds_below"),
                "seconds_above": temp.get("seconds_above"),
                "longest_excursion_s": temp.get("longest_excursion_s"),
                "low": None if not limits else limits.get("temp_min_c"),
                "high": None if not limits else limits.get("temp_max_c"),
                "series": series,
            }
        out.append(item)
    return out


def _every(start_ms: int, end_ms: int) -> int:
    return max(60_000, (end_ms - start_ms) // CHART_POINTS // 60_000 * 60_000)


def _grading(lot: TraceLot, records: Iterable[InspectionRecord]) -> dict[str, Any] | None:
    usable = [r for r in records if r.usable]
    if not usable:
        return None
    r = usable[0]
    counts = r.counts or {}
    return {
        "id": r.id,
        "time": _iso(r.ts),
        "program": r.program,
        "grade": r.grade,
        # the largest counts (a grading program may count dozens of classes)
        "counts": dict(
            sorted(
                ((k, v) for k, v in counts.items() if isinstance(v, int | float) and v),
                key=lambda kv: -kv[1],
            )[:GRADING_COUNTS]
        ),
        "measurements": {
            k: v for k, v in (r.measurements or {}).items() if isinstance(v, int | float)
        },
        "thumbnail": None
        if r.thumbnail_key is None
        else f"/api/v1/public/trace/{lot.gtin}/{lot.lot}/inspections/{r.id}/thumbnail",
        "inspections": len(usable),
    }


#: Event extensions that may name a person (a buyer, an order's customer, a note):
#: an event carrying one is shown in the bundle by its leaf hash, not its content.
PERSONAL_EXTENSIONS = ("buyer", "order", "note")


def personal(body: dict[str, Any]) -> bool:
    return any(":" in k and k.rsplit(":", 1)[1] in PERSONAL_EXTENSIONS for k in body)


async def bundle(
    session: AsyncSession, rows: list[TraceEvent], signer: NoteSigner
) -> dict[str, Any]:
    """The proofs the browser checks (``dehong-trace-page-proofs/1``): the log's key,
    its latest signed checkpoint (signed now if the log grew; the caller commits), and
    for each event its leaf index and inclusion proof, with the event as stored (the
    browser recomputes the leaf from it) or, for an event carrying a personal
    extension (:data:`PERSONAL_EXTENSIONS`), ``redacted`` with the log's leaf hash and
    ``stored_matches``: whether the stored event still gives that leaf (checked here:
    the browser cannot without the content).

    Unlike :func:`cloud.trace.log.bundle.build_bundle` it does not refuse an event whose
    stored form no longer gives its leaf: the browser is the one that checks, and says so.
    """
    head = await tlog.latest_checkpoint(session, signer)
    leaves: list[tuple[str, dict[str, Any]]] = []
    for row in rows:
        leaves.append((row.event_id, row.body))
        if row.error_declaration is not None:
            leaves.append(
                (
                    declaration_leaf_id(row.event_id),
                    {**row.body, "errorDeclaration": row.error_declaration},
                )
            )
    proofs = await tlog.inclusion_proofs(session, [k for k, _ in leaves], head.tree_size)
    entries: list[dict[str, Any]] = []
    for key, event in leaves:
        proof = proofs.get(key)
        if proof is None:  # not in the log (or logged after the checkpoint): fails
            entries.append({"event_id": key, "leaf_index": None, "event": None,
                            "inclusion_proof": []})  # fmt: skip
            continue
        entry: dict[str, Any] = {
            "event_id": key,
            "leaf_index": proof.leaf_index,
            "inclusion_proof": [base64.b64encode(h).decode("ascii") for h in proof.hashes],
        }
        if personal(event):
            entry["redacted"] = True
            entry["leaf_hash"] = base64.b64encode(proof.leaf_hash).decode("ascii")
            entry["stored_matches"] = leaf_hash(canonical_json(event)) == proof.leaf_hash
        else:
            entry["event"] = event
        entries.append(entry)
    return {
        "format": PROOFS_FORMAT,
        "log_key": signer.verifier.vkey,
        "checkpoint": head.note,
        "entries": entries,
    }


# ------------------------------------------------------------------ the page


async def page_data(
    session: AsyncSession,
    tsdb: TimeSeriesStore | None,
    settings: Any,
    lot: TraceLot,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Everything the page shows of ``lot`` (public: see the module's note on personal
    data). Writes only the log's signed head when the log grew (the caller commits)."""
    now = now or utcnow()
    product = await get_product_by_gtin(session, lot.gtin)
    org = await session.get(Organisation, lot.org_id)
    rows, via = await _events(session, lot)
    places: dict[str, Location | None] = {}
    try:
        signer: NoteSigner | None = load_signer(settings)
    except LogKeyError:
        signer = None
    proofs = await bundle(session, rows, signer) if signer is not None and rows else None
    views = await custody_of(session, lot)
    return {
        "gtin": lot.gtin,
        "lot": lot.lot,
        "uri": dl_uri(lot.gtin, lot.lot),
        "product": None
        if product is None
        else {
            "name": product.name,
            "name_en": product.name_en,
            "category": product.category,
            "category_name": zh_en(CATEGORY_NAMES, product.category),
        },
        "quantity": None
        if lot.quantity is None
        else quantity_text(Decimal(str(lot.quantity)), lot.unit or ""),
        "produced_on": None if lot.produced_on is None else _day(lot.produced_on),
        "brand": await _brand(session, lot, now),
        "origin": await _origin(session, lot),
        "producer": None if org is None else {"name": org.name, "kind": org.kind},
        "commitment_certificate": await _commitment(session, lot, org),
        "certificates": await _certificates(session, lot, now),
        "timeline": await _timeline(session, lot, rows, via, places),
        "custody": await _custody(session, tsdb, lot, views),
        "grading": _grading(lot, await inspections_of(session, lot)),
        "verification": proofs,
        "generated_at": _iso(now),
    }


def _day(d: date | datetime) -> str:
    return d.isoformat() if isinstance(d, date) and not isinstance(d, datetime) else str(d)
