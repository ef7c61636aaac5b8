"""The demo's traced story (``dehong demo``): two lots followed from the field to a
simulated cold room, through the same services the API and the phone use.

- **Coffee, 芒市 (533103)**: cherries harvested at a Mangshi plantation, pulped, dried
  and hulled at the co-operative's processing station (our trace operations:
  ``cloud.trace.operations.service``), the green beans' moisture tested, the beans
  graded by the camera (a coffee tray image run through the edge's vision program,
  stored as ingest stores an inspection), then stored in the co-operative's green
  coffee room, a room of the demo's cold-store simulator polled by the demo gateway
  ``mangshi-coop-01``.
- **Mango, 陇川 (533124)**: harvested at a Longchuan orchard, residue-tested, packed into
  cases (SSCCs) and the cases stored in the Longchuan cold store's mango room
  (``longchuan-coop-01``).
- The master data they need (organisations with valid USCCs, bases, locations with
  GLNs, products with valid GTIN-14s, commodity profiles), 三品一标 certificates, a
  承诺达标合格证 per final lot, the demo's 德宏品牌 rules (:data:`BRAND_RULES`, data).
- Each cold room is a catalog location with the gateway's device linked, so custody
  evidence is computed from the live time series: :func:`evidence` (run by the demo
  once a minute boundary has passed after the lots were stored, then every few
  minutes) computes it and records the brand decision of each lot.

Everything is idempotent: ``dehong demo --keep`` runs the story again against the same
state and changes nothing already there. Event ids are ``urn:uuid`` made from the step's
name (as the phone makes them), and every time derives from the story's *anchor* (when
the lots entered the cold rooms), kept in ``story.json`` in the state directory.
Outcomes (evidence status, brand decision) are computed, never set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

log = logging.getLogger("dehong.story")

MANGSHI, LONGCHUAN, PREFECTURE = "533103", "533124", "533100"
CST = timezone(timedelta(hours=8))
#: the namespace of the story's event ids (uuid5 of the step's name)
STORY_NS = uuid.UUID("6f1c1f7e-5d0a-4a39-9f57-2f3c1d0e7a11")
#: demo identifiers: China's GS1 prefix range (690-699); not registered numbers
ACTOR = "demo-admin"

#: The demo's 德宏品牌 admission rules (data; checked by cloud.trace.brand.rules).
BRAND_RULES: list[dict[str, Any]] = [
    {"kind": "certificate", "type": ["geographical_indication", "green_food", "organic"],
     "note": "三品一标: 地理标志、绿色食品或有机 / a GI, green food or organic certificate"},
    {"kind": "commitment_certificate", "note": "承诺达标合格证 of the lot itself"},
    {"kind": "test_passed_within_days", "test": "moisture", "days": 90, "categories": ["coffee"],
     "note": "生豆含水率 / green bean moisture within the limits"},
    {"kind": "test_passed_within_days", "test": "pesticide_residue", "days": 30,
     "categories": ["fruit_mango", "fruit_lemon", "fruit_lychee", "fruit_other"],
     "note": "农药残留 / pesticide residue"},
    {"kind": "camera_grade_at_least", "grade": "exchange", "scale": "sca",
     "categories": ["coffee"], "note": "相机分级 / camera grade (SCA scale) at least exchange"},
    {"kind": "cold_chain_compliant", "places": "cold",
     "note": "冷链 / cold chain: every interval in a cold room, warehouse or truck within the "
             "commodity profile (the drying yard and hulling station are left out)"},
]  # fmt: skip
BRAND_NOTE = "dehong demo rules (dehong/story.py BRAND_RULES)"

#: the mango's commodity profile (Longchuan's; also the mango truck's compartment's in the
#: fleet chapter, dehong/fleet_story.py): chilling-sensitive, 10-13 °C; the issue's limits
MANGO_PROFILE_NAME = "芒果（演示）"
MANGO_PROFILE: dict[str, Any] = {
    "name_en": "mango (demo)", "temp_min_c": 10.0, "temp_max_c": 13.0,
    "single_excursion_max_s": 1800, "cumulative_excursion_max_s": 3600,
    "rh_min": 80.0, "rh_max": 95.0, "categories": ["fruit_mango"]}  # fmt: skip

# device ids: "{gateway}.room-{i}" (dehong.stack.DEMO_SITES: room-0 of Mangshi is the
# green coffee room, room-1 of Longchuan the mango room)
COFFEE_ROOM_DEVICE = "mangshi-coop-01.room-0"
MANGO_ROOM_DEVICE = "longchuan-coop-01.room-1"
#: the door contact of Mangshi's room-0 (an MCU node, dehong.stack.MCU_NODES): linked
#: to the coffee room, the cold-chain engine classes a door-open spike apart
COFFEE_DOOR_DEVICE = "mangshi-coop-01.door-0"


def _check(body: str, digits: bool = True) -> str:
    from cloud.catalog.gs1 import gs1_check_digit
    from cloud.catalog.uscc import check_char

    return body + (gs1_check_digit(body) if digits else check_char(body))


def gtin14(n: int) -> str:
    return _check(f"0692{n:09d}")


def gln13(n: int) -> str:
    return _check(f"690{n:09d}")


def sscc18(n: int) -> str:
    return _check(f"0690{n:013d}")


def uscc(county: str, n: int) -> str:
    return _check(f"91{county}MA6{n:06d}", digits=False)


@dataclass(frozen=True, slots=True)
class TracedLot:
    gtin: str
    lot: str
    county: str
    title: str

    def path(self) -> str:
        return f"/api/v1/trace/lots/{self.gtin}/{quote(self.lot, safe='')}"

    def uri(self) -> str:
        from cloud.trace.epcis.identifiers import dl_uri

        return dl_uri(self.gtin, self.lot)


COFFEE_CHERRY = gtin14(310_301)
COFFEE_PARCHMENT = gtin14(310_302)
COFFEE_GREEN = gtin14(310_303)
MANGO = gtin14(312_401)
COFFEE = TracedLot(COFFEE_GREEN, "MS-GB-001", MANGSHI, "芒市小粒咖啡生豆 Mangshi green coffee")
FRUIT = TracedLot(MANGO, "LC-MG-001", LONGCHUAN, "陇川芒果 Longchuan mango")
CASES = [sscc18(312_401_000 + i) for i in range(1, 5)]


@dataclass(slots=True)
class Story:
    anchor: datetime
    lots: list[TracedLot]
    inspection: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, str] = field(default_factory=dict)  # step name -> outcome
    #: lot number -> the URIs a scan opens (serial_ranges)
    scan: dict[str, dict[str, str]] = field(default_factory=dict)

    def first_evidence_at(self) -> datetime:
        """When the open intervals can first be evidenced: the first minute boundary at
        least 10 s after the lots were stored (custody evidences an open interval up to
        the start of the current minute)."""
        t = self.anchor + timedelta(seconds=10)
        return t.replace(second=0, microsecond=0) + timedelta(minutes=1)


def _principal() -> Any:
    from cloud.auth.principal import Principal, Role

    return Principal("user", ACTOR, Role.PREFECTURE_ADMIN, PREFECTURE)


# ------------------------------------------------------------------ master data


@dataclass(slots=True)
class Catalog:
    orgs: dict[str, Any] = field(default_factory=dict)
    bases: dict[str, Any] = field(default_factory=dict)
    locations: dict[str, Any] = field(default_factory=dict)
    #: gateways whose rooms' profiles changed now (to be sent their profiles)
    push: set[str] = field(default_factory=set)


async def _org(s: Any, key: str, county: str, n: int, name: str, kind: str, cat: Catalog) -> None:
    from cloud.catalog.service import create_org
    from cloud.catalog.storage import Organisation

    code = uscc(county, n)
    org = await s.scalar(select(Organisation).where(Organisation.uscc == code))
    if org is None:
        org = await create_org(
            s, kind=kind, name=name, uscc=code, county=county, actor=f"user:{ACTOR}",
            contact_name="演示联系人 demo contact", contact_phone="0692-0000000",
        )  # fmt: skip
    cat.orgs[key] = org


async def _base(
    s: Any, key: str, org: Any, name: str, kind: str, lon: float, lat: float, cat: Catalog
) -> None:
    from geojson_pydantic import Point

    from cloud.catalog.places import create_base
    from cloud.catalog.storage import ProductionBase

    base = await s.scalar(
        select(ProductionBase).where(ProductionBase.org_id == org.id, ProductionBase.name == name)
    )
    if base is None:
        base = await create_base(
            s, org=org, name=name, kind=kind, area_ha=12.5,
            geometry=Point(type="Point", coordinates=(lon, lat)), actor=f"user:{ACTOR}",
        )  # fmt: skip
    cat.bases[key] = base


async def _location(
    s: Any, key: str, n: int, kind: str, name: str, org: Any, base: Any, cat: Catalog
) -> None:
    from cloud.catalog.gln import location_key
    from cloud.catalog.lookup import get_location_by_gln
    from cloud.catalog.places import create_location

    gln = gln13(n)
    loc = await get_location_by_gln(s, gln)
    if loc is None:
        loc = await create_location(
            s, kind=kind, name=name, key=location_key(gln), county=org.county, org=org,
            base=base, tier=None, actor=f"user:{ACTOR}",
        )  # fmt: skip
    cat.locations[key] = loc


async def _profile(s: Any, county: str, name: str, values: dict[str, Any]) -> Any:
    from cloud.catalog.products import create_profile
    from cloud.catalog.products_schemas import ProfileCreate
    from cloud.catalog.storage import CommodityProfile

    found = await s.scalar(
        select(CommodityProfile).where(
            CommodityProfile.county == county, CommodityProfile.name == name
        )
    )
    if found is not None:
        return found
    body = ProfileCreate(name=name, county=county, **values)
    return await create_profile(s, body.model_dump(), actor=f"user:{ACTOR}")


async def _product(
    s: Any, gtin: str, name: str, name_en: str, category: str, org: Any, profile: Any
) -> None:
    from cloud.catalog.lookup import get_product_by_gtin
    from cloud.catalog.products import create_product

    if await get_product_by_gtin(s, gtin) is None:
        await create_product(
            s, gtin=gtin, name=name, name_en=name_en, category=category, org=org,
            profile=profile, actor=f"user:{ACTOR}",
        )  # fmt: skip


async def _link(s: Any, loc: Any, device_id: str, profile: Any, cat: Catalog) -> None:
    """The room's device measures the location from now on (once); its profile."""
    from cloud.catalog.links import link_device
    from cloud.catalog.places import assign_profile
    from cloud.catalog.storage import LocationDevice

    linked = await s.scalar(
        select(LocationDevice).where(
            LocationDevice.device_id == device_id, LocationDevice.until.is_(None)
        )
    )
    if linked is None:
        cat.push.add(device_id.partition(".")[0])
        await link_device(
            s, loc, device_id, since=None, can_see=lambda _c: True, own_org=None,
            actor=f"user:{ACTOR}",
        )  # fmt: skip
    elif linked.location_id != loc.id:
        raise RuntimeError(f"{device_id} measures location {linked.location_id}, not {loc.id}")
    if loc.profile_id != profile.id:
        cat.push.add(device_id.partition(".")[0])
        await assign_profile(s, loc, profile, actor=f"user:{ACTOR}")


async def _link_peer(s: Any, loc: Any, device_id: str) -> None:
    """A device beside the room's sensor (a door contact) measures the location too
    (once). It has no temperature: the profile push leaves it out."""
    from cloud.catalog.links import link_device
    from cloud.catalog.storage import LocationDevice

    linked = await s.scalar(
        select(LocationDevice).where(
            LocationDevice.device_id == device_id, LocationDevice.until.is_(None)
        )
    )
    if linked is None:
        await link_device(
            s, loc, device_id, since=None, can_see=lambda _c: True, own_org=None,
            actor=f"user:{ACTOR}",
        )  # fmt: skip
    elif linked.location_id != loc.id:
        raise RuntimeError(f"{device_id} measures location {linked.location_id}, not {loc.id}")


async def master_data(db: Any) -> Catalog:
    """Organisations, bases, locations (the rooms with their devices linked), profiles
    and products of the story; what exists already is left as it is."""
    cat = Catalog()
    async with db.transaction() as s:
        await _org(s, "coffee", MANGSHI, 310_301, "芒市遮放咖啡专业合作社 Zhefang coffee co-operative (demo)", "cooperative", cat)  # fmt: skip
        await _org(s, "fruit", LONGCHUAN, 312_401, "陇川县章凤果蔬专业合作社 Zhangfeng fruit co-operative (demo)", "cooperative", cat)  # fmt: skip
        await _base(s, "coffee", cat.orgs["coffee"], "芒市遮放咖啡种植基地 Zhefang coffee plantation", "plantation", 98.283, 24.262, cat)  # fmt: skip
        await _base(s, "fruit", cat.orgs["fruit"], "陇川章凤芒果园 Zhangfeng mango orchard", "orchard", 97.957, 24.297, cat)  # fmt: skip
        await _location(s, "station", 310_301_001, "processing_site", "遮放咖啡初加工站 coffee processing station", cat.orgs["coffee"], cat.bases["coffee"], cat)  # fmt: skip
        await _location(s, "coffee_room", 310_301_002, "cold_room", "芒市咖啡合作社 生豆恒温库 green coffee room (simulated)", cat.orgs["coffee"], None, cat)  # fmt: skip
        await _location(s, "mango_room", 312_401_002, "cold_room", "陇川冷链仓 芒果冷库 mango cold room (simulated)", cat.orgs["fruit"], None, cat)  # fmt: skip
        green = await _profile(s, MANGSHI, "生咖啡豆（演示）", {
            "name_en": "green coffee (demo)", "temp_min_c": 15.0, "temp_max_c": 25.0,
            "single_excursion_max_s": 3600, "cumulative_excursion_max_s": 4 * 3600,
            "rh_min": 45.0, "rh_max": 70.0, "categories": ["coffee"]})  # fmt: skip
        mango = await _profile(s, LONGCHUAN, MANGO_PROFILE_NAME, MANGO_PROFILE)
        coffee_org, fruit_org = cat.orgs["coffee"], cat.orgs["fruit"]
        await _product(s, COFFEE_CHERRY, "芒市小粒咖啡鲜果", "Mangshi coffee cherries", "coffee", coffee_org, None)  # fmt: skip
        await _product(s, COFFEE_PARCHMENT, "芒市小粒咖啡带壳豆", "Mangshi parchment coffee", "coffee", coffee_org, None)  # fmt: skip
        await _product(s, COFFEE_GREEN, "芒市小粒咖啡生豆", "Mangshi green coffee", "coffee", coffee_org, green)  # fmt: skip
        await _product(s, MANGO, "陇川芒果", "Longchuan mango", "fruit_mango", fruit_org, mango)
        await _link(s, cat.locations["coffee_room"], COFFEE_ROOM_DEVICE, green, cat)
        await _link(s, cat.locations["mango_room"], MANGO_ROOM_DEVICE, mango, cat)
        await _link_peer(s, cat.locations["coffee_room"], COFFEE_DOOR_DEVICE)
    return cat


# ------------------------------------------------------------------ certificates, rules


async def certificates(db: Any, cat: Catalog) -> None:
    """三品一标: a geographical indication for the co-operative's coffee (its products)
    and a green food certificate for the mango (its product from its orchard); demo
    numbers."""
    from cloud.trace.certificates.schemas import CertificateCreate
    from cloud.trace.certificates.service import create_certificate
    from cloud.trace.certificates.storage import TraceCertificate

    wanted = [
        CertificateCreate(
            type="geographical_indication", number="AGI-DEMO-533103-01",
            holder_uscc=cat.orgs["coffee"].uscc,
            products=[COFFEE_CHERRY, COFFEE_PARCHMENT, COFFEE_GREEN],
            # no bases: a geographical indication covers the product of the region, and a
            # certificate naming bases covers only lots with one of them as origin (the
            # green beans, made from other lots, have none of their own)
            valid_from=date(2024, 1, 1),
            valid_to=date(2029, 12, 31), issuer="农业农村部 (demo)",
        ),
        CertificateCreate(
            type="green_food", number="LB-DEMO-533124-01", holder_uscc=cat.orgs["fruit"].uscc,
            products=[MANGO], base_ids=[cat.bases["fruit"].id], valid_from=date(2025, 6, 1),
            valid_to=date(2028, 5, 31), issuer="中国绿色食品发展中心 (demo)",
        ),
    ]  # fmt: skip
    async with db.transaction() as s:
        for body in wanted:
            found = await s.scalar(
                select(TraceCertificate.id).where(
                    TraceCertificate.type == body.type, TraceCertificate.number == body.number
                )
            )
            if found is None:
                await create_certificate(s, body, _principal())


async def brand_rules(db: Any) -> int:
    """The demo rules in force (a new version only when they differ); the version."""
    from cloud.trace.brand.rules import check_rules, rule_json
    from cloud.trace.brand.service import current_rules, set_rules

    wanted = [rule_json(r) for r in check_rules(BRAND_RULES)]
    async with db.transaction() as s:
        now = await current_rules(s)
        if [rule_json(r) for r in now.rules] == wanted:
            return now.version
        return (await set_rules(s, BRAND_RULES, BRAND_NOTE, _principal())).version


async def commitment_certificates(db: Any) -> None:
    """A 承诺达标合格证 for each final lot (required for the mango, allowed for coffee)."""
    from cloud.trace.certificates import commitment
    from cloud.trace.certificates.schemas import CommitmentCreate
    from cloud.trace.lots.service import get_lot

    for lot, body in (
        # the green beans are made from other lots: their origin is the cherries' base
        (COFFEE, CommitmentCreate(basis="commissioned_test",
                                  origin="云南省德宏州芒市遮放镇 遮放咖啡种植基地")),
        (FRUIT, CommitmentCreate(basis="self_test")),  # origin: the lot's base
    ):  # fmt: skip
        async with db.transaction() as s:
            row = await get_lot(s, lot.gtin, lot.lot, _principal())
            if row is None or await commitment.of_lot(s, row.id):
                continue
            await commitment.issue(s, row, body, _principal())


#: Serials issued to each final lot (labels 1..N, each with its authentication code)
SERIALS = 100


async def serial_ranges(settings: Any, db: Any, story: Story) -> None:
    """Serials 1..:data:`SERIALS` of each final lot (once), and each lot's scan URIs for
    the banner: the lot's Digital Link, serial 1 with its code, and serial 1 with a
    forged code (what a counterfeit label would carry)."""
    from sqlalchemy import select

    from cloud.resolver.serials.keys import ensure_key
    from cloud.resolver.serials.schemas import RangeCreate
    from cloud.resolver.serials.service import issue_range, serial_uri
    from cloud.resolver.serials.storage import SerialRange
    from cloud.trace.epcis.identifiers import dl_uri
    from cloud.trace.lots.service import get_lot

    key, _ = ensure_key(settings)
    base = settings.public_base_url
    for lot in story.lots:
        async with db.transaction() as s:
            row = await get_lot(s, lot.gtin, lot.lot, _principal())
            if row is None:
                continue
            found = await s.scalar(select(SerialRange).where(SerialRange.lot_id == row.id))
            if found is None:
                found = await issue_range(s, row, RangeCreate(count=SERIALS), _principal())
            story.scan[lot.lot] = {
                "lot": dl_uri(lot.gtin, lot.lot, base=base),
                "unit": serial_uri(key, base, lot.gtin, lot.lot, str(found.first)),
                "forged": f"{dl_uri(lot.gtin, lot.lot, str(found.first), base=base)}?c=AAAAAAAAAA",
                "labels": f"/api/v1/trace/serial-ranges/{found.id}/labels",
            }


# ------------------------------------------------------------------ the steps


def event_id(name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(STORY_NS, name)}"


async def _op(db: Any, story: Story, name: str, step: str, body: dict[str, Any]) -> Any:
    """One operation through cloud.trace.operations.service (its own transaction)."""
    from cloud.trace.operations import schemas, service

    model = schemas.BODIES[step].model_validate({"event_id": event_id(name), **body})
    async with db.transaction() as s:
        out = await getattr(service, step)(s, model, _principal())
    story.steps[name] = out.outcome
    return out


def _t(story: Story, **delta: float) -> str:
    return (story.anchor - timedelta(**delta)).astimezone(CST).isoformat()


async def steps(db: Any, story: Story, cat: Catalog) -> None:
    """The operations of both lots, in order; times before the anchor, the storing at it."""
    coffee_org, fruit_org = cat.orgs["coffee"].id, cat.orgs["fruit"].id
    station = cat.locations["station"].id
    kg = "KGM"

    def lot(gtin: str, number: str, qty: int | None = None) -> dict[str, Any]:
        return {"gtin": gtin, "lot": number} | (
            {} if qty is None else {"quantity": qty, "unit": kg}
        )

    await _op(db, story, "coffee/harvest", "harvest", {
        "time": _t(story, days=21), "gtin": COFFEE_CHERRY, "lot": "MS-CH-001", "org_id": coffee_org,
        "quantity": 1000, "unit": kg, "origin_base_id": cat.bases["coffee"].id,
        "note": "红果采摘 cherries picked ripe"})  # fmt: skip
    for name, days, src, dst, qty in (
        ("pulping", 20.8, lot(COFFEE_CHERRY, "MS-CH-001", 1000), (COFFEE_PARCHMENT, "MS-PW-001"), 460),
        ("drying", 9, lot(COFFEE_PARCHMENT, "MS-PW-001", 460), (COFFEE_PARCHMENT, "MS-PD-001"), 225),
        ("hulling", 3, lot(COFFEE_PARCHMENT, "MS-PD-001", 225), (COFFEE_GREEN, COFFEE.lot), 180),
    ):  # fmt: skip
        await _op(db, story, f"coffee/{name}", "process", {
            "time": _t(story, days=days), "location_id": station, "process": name,
            "inputs": [src], "output": {**lot(*dst, qty), "org_id": coffee_org}})  # fmt: skip
    await _op(db, story, "coffee/test", "test", {
        "time": _t(story, days=2.9), "location_id": station, "biz_step": "inspecting",
        "lot": lot(COFFEE.gtin, COFFEE.lot),
        "results": [{"test": "moisture", "value": 11.2, "unit": "%", "min": 10.0, "limit": 12.5,
                     "method": "rapid", "standard": "NY/T 604-2006"}]})  # fmt: skip

    await _op(db, story, "mango/harvest", "harvest", {
        "time": _t(story, days=1), "gtin": MANGO, "lot": FRUIT.lot, "org_id": fruit_org,
        "quantity": 40, "unit": kg, "origin_base_id": cat.bases["fruit"].id})  # fmt: skip
    await _op(db, story, "mango/test", "test", {
        "time": _t(story, hours=20), "biz_step": "sampling", "lot": lot(MANGO, FRUIT.lot),
        "results": [{"test": "pesticide_residue", "analyte": "吡唑醚菌酯 pyraclostrobin",
                     "value": 0.01, "unit": "mg/kg", "limit": 0.05, "method": "lab",
                     "standard": "GB 2763-2021"},
                    {"test": "pesticide_residue", "analyte": "多菌灵 carbendazim",
                     "value": 0.2, "unit": "mg/kg", "limit": 2.0, "method": "lab",
                     "standard": "GB 2763-2021"}]})  # fmt: skip
    for i, case in enumerate(CASES):
        await _op(db, story, f"mango/pack/{i}", "pack", {
            "time": _t(story, hours=18, minutes=-i), "parent": case,
            "lots": [lot(MANGO, FRUIT.lot, 10)]})  # fmt: skip
    # the anchor: both lots enter their cold rooms
    await _op(db, story, "coffee/store", "store", {
        "time": _t(story), "location_id": cat.locations["coffee_room"].id,
        "lots": [lot(COFFEE.gtin, COFFEE.lot, 180)]})  # fmt: skip
    await _op(db, story, "mango/store", "store", {
        "time": _t(story), "location_id": cat.locations["mango_room"].id, "containers": CASES})  # fmt: skip


async def camera_grading(settings: Any, db: Any, tsdb: Any, story: Story, state: Path) -> None:
    """The green beans graded by the camera: a coffee tray image (the camera simulator's,
    seed 1, kept in the state directory as the recorded frame) through the edge's
    coffee program, as the camera driver does, then stored as ingest stores an
    inspection from the Mangshi gateway; the lot is the one the gateway was told
    (``set-lot``): the green coffee lot's Digital Link."""
    import cv2

    from cloud.ingest.registry import KnownGateway
    from cloud.inspections.files import files_for
    from cloud.inspections.ingest import store_inspection
    from edge.vision import coffee
    from edge.vision.annotate import thumbnail_jpeg
    from edge.vision.config import VisionConfig
    from edge.vision.imagefile import decode
    from protocol.messages import EventMessage, EventType, Severity
    from simulators.camera.coffee import make_coffee

    frame = state / "camera" / "coffee-tray-seed1.png"
    if not frame.exists():
        frame.parent.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(".png", make_coffee(1).image)
        assert ok
        frame.write_bytes(buf.tobytes())
    data = frame.read_bytes()
    started = time.perf_counter()
    result = await asyncio.to_thread(coffee.inspect, decode(data), VisionConfig(), COFFEE.uri())
    thumb = thumbnail_jpeg(result.annotated if result.annotated is not None else decode(data))
    inspection = result.to_inspection(data, thumb)
    ts = int((story.anchor - timedelta(days=2, hours=20)).timestamp() * 1000)
    gateway = "mangshi-coop-01"
    ev = EventMessage(
        gw=gateway, id=f"insp-{inspection.image_sha256[:16]}-{ts}", ts=ts,
        type=EventType.INSPECTION, device=f"{gateway}.cam-1",
        severity=Severity.INFO if result.usable else Severity.WARNING,
        message=None if result.usable else f"unusable: {result.reason}", inspection=inspection,
    )  # fmt: skip
    await store_inspection(
        db, tsdb, ev, KnownGateway(gateway, MANGSHI, "mangshi-coffee", False), files_for(settings)
    )
    story.inspection = {"usable": result.usable, "grade": result.grade, "event_id": ev.id,
                        "beans": result.counts.get("beans"), "image": str(frame),
                        "seconds": round(time.perf_counter() - started, 2)}  # fmt: skip


# ------------------------------------------------------------------ anchor, evidence


def _anchor(state: Path) -> datetime | None:
    path = state / "story.json"
    if not path.exists():
        return None
    return datetime.fromisoformat(json.loads(path.read_text(encoding="utf-8"))["anchor"])


def _keep_anchor(state: Path, anchor: datetime) -> None:
    (state / "story.json").write_text(
        json.dumps({"anchor": anchor.isoformat(), "lots": [COFFEE.uri(), FRUIT.uri()]}) + "\n",
        encoding="utf-8",
    )


async def wait_for_readings(db: Any, devices: list[str], timeout_s: float) -> bool:
    """Until ingest has stored readings of every device (True), or the timeout."""
    from cloud.devices.storage import Device

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with db.session() as s:
            rows = list(await s.scalars(select(Device).where(Device.id.in_(devices))))
        if len(rows) == len(devices) and all(r.last_reading_ms > 0 for r in rows):
            return True
        await asyncio.sleep(0.5)
    return False


async def push_profiles(db: Any, publish: Any, gateways: set[str]) -> None:
    """The rooms' commodity profiles to their gateways (``set-config``), as the API does
    when a profile is assigned or a device linked."""
    from cloud.catalog.push import push_profiles as push

    for sent in await push(db, publish, gateways, actor=f"user:{ACTOR}"):
        log.info("story: profiles to %s: %s", sent.gateway_id, sent.detail)


async def run_story(
    settings: Any,
    db: Any,
    tsdb: Any,
    state: Path,
    *,
    wait_s: float = 60.0,
    publish: Any = None,
) -> Story:
    """The story up to the lots in their rooms (everything but the evidence).
    ``publish``: a gateway command publisher (``cloud.devices.commands.Publish``) to send
    the rooms' profiles with; None: not sent."""
    cat = await master_data(db)
    if publish is not None and cat.push:
        await push_profiles(db, publish, cat.push)
    anchor = _anchor(state)
    if anchor is None:
        # the lots enter the rooms once the rooms' readings arrive, so that the evidence
        # covers their stay from its start
        if not await wait_for_readings(db, [COFFEE_ROOM_DEVICE, MANGO_ROOM_DEVICE], wait_s):
            log.warning("no readings of the cold rooms after %.0f s; storing the lots anyway",
                        wait_s)  # fmt: skip
        anchor = datetime.now(UTC).replace(microsecond=0)
        _keep_anchor(state, anchor)
    story = Story(anchor, [COFFEE, FRUIT])
    await certificates(db, cat)
    await brand_rules(db)
    await steps(db, story, cat)
    await camera_grading(settings, db, tsdb, story, state)
    await commitment_certificates(db)
    await serial_ranges(settings, db, story)
    return story


@dataclass(slots=True)
class EvidenceRound:
    stored: int
    unchanged: int
    granted: dict[str, bool]
    reasons: dict[str, str]


async def evidence(db: Any, tsdb: Any, lots: list[TracedLot]) -> EvidenceRound:
    """The evidence of the lots' custody intervals (the open ones too, up to the start
    of this minute), the periodic job's pass, and each lot's brand decision."""
    from cloud.trace.brand.service import decide
    from cloud.trace.custody.service import compute_evidence, job_principal, run_pass
    from cloud.trace.lots.service import get_lot

    stored = unchanged = 0
    principal = job_principal(f"cli:{ACTOR}")
    for lot in lots:
        async with db.session() as s:
            row = await get_lot(s, lot.gtin, lot.lot, _principal())
        if row is None:
            continue
        done = await compute_evidence(db, tsdb, row, principal, include_open=True)
        stored, unchanged = stored + len(done.stored), unchanged + done.unchanged
    job = await run_pass(db, tsdb, principal)
    stored += job.stored
    granted: dict[str, bool] = {}
    reasons: dict[str, str] = {}
    for lot in lots:
        async with db.transaction() as s:
            row = await get_lot(s, lot.gtin, lot.lot, _principal())
            if row is None:
                continue
            evaluation, _ = await decide(s, row, "evidence")
        granted[lot.lot], reasons[lot.lot] = evaluation.granted, evaluation.reason
    return EvidenceRound(stored, unchanged, granted, reasons)


async def evidence_loop(
    db: Any,
    tsdb: Any,
    story: Story,
    *,
    every_s: float = 600.0,
    settle_s: float = 8.0,
    report: Callable[[EvidenceRound], Awaitable[None] | None] | None = None,
) -> None:
    """Evidence once the first minute boundary after the storing has passed (and the
    readings up to it had ``settle_s`` to arrive), then every ``every_s``."""
    wait = (story.first_evidence_at() - datetime.now(UTC)).total_seconds() + settle_s
    if wait > 0:
        await asyncio.sleep(wait)
    while True:
        try:
            done = await evidence(db, tsdb, story.lots)
        except Exception:
            log.exception("story evidence failed")
        else:
            if report is not None:
                maybe = report(done)
                if maybe is not None:
                    await maybe
        await asyncio.sleep(every_s)


def banner_lines(api: str, story: Story) -> list[str]:
    """The demo banner's lines for the traced lots."""
    first = story.first_evidence_at().astimezone(CST).strftime("%H:%M:%S")
    lines = [
        f"  traced lots    stored in the simulated cold rooms at "
        f"{story.anchor.astimezone(CST).strftime('%Y-%m-%d %H:%M:%S')} (+08:00); sensor "
        f"evidence and brand decision from {first}",
    ]
    log_proof = quote(event_id("coffee/store"), safe="")
    lines.append(f"    log          {api}/api/v1/trace/log/checkpoint   "
                 f"{api}/api/v1/trace/log/proof/inclusion?event_id={log_proof}")  # fmt: skip
    lines.append(f"    phone page   {api}/m/trace   (record steps offline; demo login above)")
    for lot in story.lots:
        base = f"{api}{lot.path()}"
        scan = story.scan.get(lot.lot, {})
        lines += [
            f"    {lot.title}: {lot.uri()}",
            f"      scan (QR)  {scan.get('lot', '')}",
            f"      one bag    {scan.get('unit', '')}",
            f"      forged     {scan.get('forged', '')}   (此码非本平台发放)",
            f"      labels     {api}{scan.get('labels', '')}   (PDF, signed in)",
            f"      lot        {base}",
            f"      events     {api}/api/v1/epcis/events?MATCH_anyEPCClass={quote(lot.uri(), safe='')}",
            f"      custody    {base}/custody",
            f"      brand      {base}/brand",
            f"      certs      {base}/certificates   {base}/commitment-certificates",
            f"      recall     {base}/backward",
        ]
        if lot is COFFEE:
            lines.append(f"      camera     {base}/inspections  (grade: "
                         f"{story.inspection.get('grade')})")  # fmt: skip
        if lot is FRUIT:
            from cloud.trace.epcis.identifiers import dl_uri

            case = quote(dl_uri(sscc=CASES[0]), safe="")
            lines.append(f"      case 1     {api}/api/v1/epcis/events?MATCH_anyEPC={case}")
    return lines
