"""The synthetic history of ``dehong trace seed``: lots of Dehong coffee and fruit,
as if their events had been captured one by one.

**Master data** (made once, found again by key on a later run): four organisations
(cooperatives of 芒市, 瑞丽, 陇川 and 盈江, each with a valid USCC), each with a
production base, five locations with GS1 GLNs (processing site, cold room, vehicle
compartment, warehouse, customer site) and three products (GTIN-14 with valid check
digits): the raw, the processed and the finished good (coffee cherries, parchment,
green beans; mangoes or lemons fresh, graded, packed).

**Lots**, in families of four (lot ``i`` is role ``i % 4`` of family ``i // 4``,
family ``f`` belongs to organisation ``f % 4``):

- roles 0 and 1, raw lots: harvested (ObjectEvent ADD, bizStep commissioning, at the
  production base);
- role 2, processed: TransformationEvent, inputs the two raw lots (registered with
  them as parents);
- role 3, finished: TransformationEvent from the processed lot, then packed
  (AggregationEvent ADD, bizStep packing, the lot as a child quantity of an SSCC
  case); its later events name the case too.

Every lot then has ObjectEvents (OBSERVE) up to ``events_per_lot`` events, cycling
through storing (cold room), inspecting (processing site), loading (cold room into a
vehicle compartment), receiving (warehouse) and storing (warehouse), each with
readPoint and bizLocation, three hours apart. Lots travel as classes in quantity
lists (``https://id.gs1.org/01/{gtin}/10/{lot}``), with quantities in KGM.

So ``lots * events_per_lot`` events in all. Everything is deterministic given
``seed`` (quantities, times, eventIDs: the CBV 2.0 hashes), but the lots' own
numbers include the seed (``S{seed}-{i}``), so two seeds can share a database.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from cloud.catalog.gs1 import gs1_check_digit
from cloud.catalog.storage import Location, Organisation, Product, ProductionBase
from cloud.catalog.uscc import check_char
from cloud.db import Database
from cloud.trace.lots.storage import TraceLot
from cloud.trace.seed.writer import HistoryWriter

DL = "https://id.gs1.org"
#: the first family's harvest (the 2025/26 coffee season)
T0 = datetime(2025, 11, 1, tzinfo=UTC)
#: between two families' harvests
FAMILY_STEP = timedelta(seconds=97)
#: between two events of one lot
EVENT_STEP = timedelta(hours=3)
CREATED_BY = "trace-seed"
#: Dehong's offset: event times are written in local time
CST = timezone(timedelta(hours=8))
#: changes whenever the history made for the same arguments changes (benchmarks that
#: keep a seeded database name it with this)
HISTORY_VERSION = 2

#: (county, name, category, [(product name, English), ...] raw, processed, finished)
ORGS: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("533103", "芒市遮放咖啡专业合作社 (seed)", "coffee",
     [("咖啡鲜果", "coffee cherries"), ("咖啡带壳豆", "parchment coffee"),
      ("咖啡生豆", "green coffee beans")]),
    ("533102", "瑞丽弄岛咖啡专业合作社 (seed)", "coffee",
     [("咖啡鲜果", "coffee cherries"), ("咖啡带壳豆", "parchment coffee"),
      ("咖啡生豆", "green coffee beans")]),
    ("533124", "陇川章凤芒果专业合作社 (seed)", "fruit_mango",
     [("芒果鲜果", "fresh mangoes"), ("分级芒果", "graded mangoes"),
      ("箱装芒果", "packed mangoes")]),
    ("533123", "盈江平原柠檬专业合作社 (seed)", "fruit_lemon",
     [("柠檬鲜果", "fresh lemons"), ("分级柠檬", "graded lemons"),
      ("箱装柠檬", "packed lemons")]),
]  # fmt: skip
#: location kinds of each organisation, in GLN order
PLACES = ("processing_site", "cold_room", "vehicle_compartment", "warehouse", "customer_site")
#: the ObjectEvents after a lot's first: (bizStep, disposition, readPoint, bizLocation)
CYCLE: list[tuple[str, str, str, str]] = [
    ("storing", "sellable_not_accessible", "cold_room", "cold_room"),
    ("inspecting", "in_progress", "processing_site", "processing_site"),
    ("loading", "in_transit", "cold_room", "vehicle_compartment"),
    ("receiving", "in_progress", "warehouse", "warehouse"),
    ("storing", "sellable_not_accessible", "warehouse", "warehouse"),
]


def gtin(org: int, stage: int) -> str:
    body = f"0690{org + 1:03d}{stage + 1:06d}"
    return body + gs1_check_digit(body)


def gln(org: int, place: int) -> str:
    body = f"6900{org + 1:03d}{place + 1:05d}"
    return body + gs1_check_digit(body)


def sscc(seed: int, i: int) -> str:
    body = f"169{seed % 1000:03d}{i:011d}"
    return body + gs1_check_digit(body)


def uscc(org: int) -> str:
    body = f"93{ORGS[org][0]}MA7{org + 1:06d}"
    return body + check_char(body)


def lot_number(seed: int, i: int) -> str:
    return f"S{seed}-{i:07d}"


def lot_uri(g: str, lot: str) -> str:
    return f"{DL}/01/{g}/10/{lot}"


def place_uri(org: int, kind: str) -> str:
    return f"{DL}/414/{gln(org, PLACES.index(kind))}"


@dataclass(frozen=True)
class Catalog:
    """Ids of the master data: per organisation its id, base id and product ids."""

    org_ids: list[int]
    base_ids: list[int]
    product_ids: list[list[int]]


@dataclass(frozen=True)
class SeedResult:
    lots: int
    events: int
    seconds: float
    first_lot: tuple[str, str]
    last_lot: tuple[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "lots": self.lots,
            "events": self.events,
            "seconds": round(self.seconds, 1),
            "events_per_s": round(self.events / self.seconds, 1) if self.seconds else None,
            "first_lot": "/".join(self.first_lot),
            "last_lot": "/".join(self.last_lot),
        }


async def catalog(db: Database) -> Catalog:
    """The organisations, bases, locations and products, made when missing."""
    org_ids, base_ids, product_ids = [], [], []
    async with db.transaction() as s:
        for k, (county, name, category, products) in enumerate(ORGS):
            org = await s.scalar(select(Organisation).where(Organisation.uscc == uscc(k)))
            if org is None:
                org = Organisation(kind="cooperative", name=name, uscc=uscc(k), county=county,
                                   created_by=CREATED_BY)  # fmt: skip
                s.add(org)
                await s.flush()
            base = await s.scalar(
                select(ProductionBase).where(
                    ProductionBase.org_id == org.id, ProductionBase.created_by == CREATED_BY
                )
            )
            if base is None:
                lon, lat = 98.4 + 0.1 * k, 24.4 + 0.05 * k
                base = ProductionBase(
                    org_id=org.id, county=county, name=f"{name} 基地",
                    kind="plantation" if category == "coffee" else "orchard",
                    geometry={"type": "Point", "coordinates": [lon, lat]}, lon=lon, lat=lat,
                    created_by=CREATED_BY,
                )  # fmt: skip
                s.add(base)
                await s.flush()
            for p, kind in enumerate(PLACES):
                code = gln(k, p)
                if await s.scalar(select(Location.id).where(Location.gln == code)) is None:
                    s.add(Location(kind=kind, name=f"{name} {kind}", county=county,
                                   org_id=org.id, base_id=base.id, gln=code,
                                   created_by=CREATED_BY))  # fmt: skip
            ids = []
            for stage, (pname, pname_en) in enumerate(products):
                code = gtin(k, stage)
                product = await s.scalar(select(Product).where(Product.gtin == code))
                if product is None:
                    product = Product(gtin=code, name=pname, name_en=pname_en,
                                      category=category, org_id=org.id, county=county,
                                      created_by=CREATED_BY)  # fmt: skip
                    s.add(product)
                    await s.flush()
                ids.append(product.id)
            org_ids.append(org.id)
            base_ids.append(base.id)
            product_ids.append(ids)
    return Catalog(org_ids, base_ids, product_ids)


def _t(t: datetime) -> str:
    return t.astimezone(CST).isoformat(timespec="milliseconds")


def _q(g: str, lot: str, quantity: float) -> dict[str, Any]:
    return {"epcClass": lot_uri(g, lot), "quantity": quantity, "uom": "KGM"}


async def seed_history(
    db: Database,
    lots: int,
    *,
    events_per_lot: int = 10,
    seed: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> SeedResult:
    """Write ``lots`` lots and ``lots * events_per_lot`` events (see the module)."""
    if lots < 1:
        raise ValueError("lots: at least 1")
    if events_per_lot < 2:
        raise ValueError("events_per_lot: at least 2 (a finished lot is made, then packed)")
    if seed < 0:
        raise ValueError("seed: at least 0")
    rng = random.Random(seed)
    started = time.perf_counter()
    cat = await catalog(db)
    async with db.session() as s:
        taken = await s.scalar(
            select(TraceLot.id).where(TraceLot.lot == lot_number(seed, 0)).limit(1)
        )
    if taken is not None:
        raise ValueError(f"seed: lots of seed {seed} are already in this database; "
                         "give another --seed")  # fmt: skip
    ids: list[int] = []  # lot ids of the current family
    qty: list[float] = []
    async with HistoryWriter(db, created_by=CREATED_BY) as w:
        for i in range(lots):
            family, role = divmod(i, 4)
            org = family % len(ORGS)
            county = ORGS[org][0]
            if role == 0:
                ids, qty = [], []
            stage = (0, 0, 1, 2)[role]
            g, lot = gtin(org, stage), lot_number(seed, i)
            start = T0 + family * FAMILY_STEP + (0, 0, 36, 72)[role] * timedelta(hours=1)
            start += timedelta(milliseconds=rng.randrange(60_000))
            quantity = round(rng.uniform(300, 2000) if role < 2 else qty[-1] * 0.8, 1)
            parents = (
                [ids[0], ids[1]] if role == 2 and len(ids) > 1 else ids[2:3] if role == 3 else []
            )
            ids.append(w.add_lot(
                g, lot, county=county, org_id=cat.org_ids[org],
                product_id=cat.product_ids[org][stage], quantity=quantity, unit="KGM",
                origin_base_id=cat.base_ids[org] if role < 2 else None,
                produced_on=start.date(), parents=parents, created_at=start,
            ))  # fmt: skip
            qty.append(quantity)
            base = {"eventTimeZoneOffset": "+08:00"}
            site = {"id": place_uri(org, "processing_site")}
            if role < 2:
                first: dict[str, Any] = {
                    "type": "ObjectEvent", "eventTime": _t(start), **base,
                    "action": "ADD", "bizStep": "commissioning", "disposition": "active",
                    "readPoint": site, "bizLocation": site,
                    "quantityList": [_q(g, lot, quantity)],
                }  # fmt: skip
            else:
                inputs = (
                    [_q(gtin(org, 0), lot_number(seed, i - 2 + k), qty[k]) for k in range(2)]
                    if role == 2
                    else [_q(gtin(org, 1), lot_number(seed, i - 1), qty[2])]
                )
                first = {
                    "type": "TransformationEvent", "eventTime": _t(start), **base,
                    "inputQuantityList": inputs, "outputQuantityList": [_q(g, lot, quantity)],
                    "bizStep": "commissioning", "disposition": "active",
                    "readPoint": site, "bizLocation": site,
                }  # fmt: skip
            w.add(first, county)
            case: list[str] = []
            for k in range(1, events_per_lot):
                t = start + k * EVENT_STEP
                if role == 3 and k == 1:
                    case = [f"{DL}/00/{sscc(seed, i)}"]
                    event: dict[str, Any] = {
                        "type": "AggregationEvent", "eventTime": _t(t), **base,
                        "parentID": case[0],
                        "childQuantityList": [_q(g, lot, quantity)], "action": "ADD",
                        "bizStep": "packing", "disposition": "in_progress",
                        "readPoint": site, "bizLocation": site,
                    }  # fmt: skip
                else:
                    step, disposition, read, where = CYCLE[(k - 1) % len(CYCLE)]
                    event = {
                        "type": "ObjectEvent", "eventTime": _t(t), **base, **({"epcList": case} if case else {}),
                        "action": "OBSERVE", "bizStep": step, "disposition": disposition,
                        "readPoint": {"id": place_uri(org, read)},
                        "bizLocation": {"id": place_uri(org, where)},
                        "quantityList": [_q(g, lot, quantity)],
                    }  # fmt: skip
                w.add(event, county, record_time=t + timedelta(seconds=rng.randrange(1, 600)))
            await w.flush()
            if progress is not None and (i + 1) % 10_000 == 0:
                progress(i + 1, w.written)
    return SeedResult(
        lots=w.lots_written,
        events=w.written,
        seconds=time.perf_counter() - started,
        first_lot=(gtin(0, 0), lot_number(seed, 0)),
        last_lot=(
            gtin(((lots - 1) // 4) % len(ORGS), (0, 0, 1, 2)[(lots - 1) % 4]),
            lot_number(seed, lots - 1),
        ),
    )
