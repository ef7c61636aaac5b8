"""A lot with everything the consumer trace page shows, seeded through the API where
there is one: the custody world (tests/cloud/custody_support.py: a vegetable of a
2-8 °C profile, cold room A, vehicle V, warehouse B), a production base in 芒市, a rapid
pesticide test, a sale, readings with an excursion and an outage, computed evidence, a
green-food certificate, the lot's 承诺达标合格证, a camera inspection with its annotated
thumbnail; and the personal data of people around it that the page must not show."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cloud.auth.principal import Role
from cloud.catalog.storage import Location, Organisation, ProductionBase
from cloud.db import utcnow
from cloud.inspections.files import files_for
from cloud.inspections.storage import InspectionRecord
from cloud.timeseries.windows import MINUTE_MS
from cloud.trace.log.keys import ensure_key
from cloud.trace.lots.storage import TraceLot
from tests.cloud.catalog_support import uscc
from tests.cloud.custody_support import CST, World, make_world, readings, story, write
from tests.support.api import ApiEnv

#: The promising entity's contact (on the 合格证 by law: shown)
CERT_CONTACT = "0692-2123456"
#: Personal data of the seeded people: none of it may appear on the public page
PERSONAL = {
    "producer contact person": "张德福",
    "producer contact phone": "13800001111",
    "producer address": "芒市勐焕街道某村 8 号",
    "carrier contact person": "李运华",
    "carrier contact phone": "13911112222",
    "driver and plate (vehicle name)": "云N·D1234 司机王强",
    "buyer": "赵小买",
    "buyer phone": "13700009999",
    "note": "交给刘大妈",
}


@dataclass
class PageWorld:
    world: World
    base_id: int
    inspection_id: int
    test_event: str
    sale_event: str

    @property
    def gtin(self) -> str:
        return self.world.gtin

    @property
    def lot(self) -> str:
        return self.world.lot

    @property
    def county(self) -> str:
        return self.world.county


def jpeg() -> bytes:
    """A small annotated JPEG (boxes and a label), or a minimal valid JPEG."""
    try:
        import cv2
        import numpy as np
    except ImportError:  # pragma: no cover - cv2 is in the dev extras
        return bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")
    img = np.full((120, 160, 3), (60, 110, 150), dtype=np.uint8)
    for i, (x, y) in enumerate(((20, 20), (70, 40), (110, 70))):
        cv2.circle(img, (x + 12, y + 12), 11, (40, 70 + 30 * i, 120), -1)
        cv2.rectangle(img, (x, y), (x + 24, y + 24), (0, 220, 0) if i < 2 else (0, 0, 230), 2)
    cv2.putText(img, "G1", (4, 114), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return buf.tobytes()


def give_key(env: ApiEnv) -> None:
    if env.settings.trace_log_key_file is None:
        env.settings.trace_log_key_file = Path(tempfile.mkdtemp()) / "keys" / "trace-log.key"
    ensure_key(env.settings)


async def seed(env: ApiEnv, *, n: int = 7) -> PageWorld:
    give_key(env)
    env.settings.filestore_dir = Path(tempfile.mkdtemp()) / "files"
    w = await make_world(env.db, n=n)
    async with env.db.transaction() as s:
        org = await s.get(Organisation, w.org_id)
        assert org is not None
        org.name = f"芒市遮放生态蔬菜专业合作社 {n}"
        org.contact_name = PERSONAL["producer contact person"]
        org.contact_phone = PERSONAL["producer contact phone"]
        org.address = PERSONAL["producer address"]
        s.add(
            Organisation(
                kind="carrier",
                name=f"德宏冷链物流 {n}",
                uscc=uscc(w.county, 700_000 + n),
                county=w.county,
                contact_name=PERSONAL["carrier contact person"],
                contact_phone=PERSONAL["carrier contact phone"],
                created_at=utcnow(),
                created_by="test",
            )
        )
        vehicle = await s.get(Location, w.locations["V"][0])
        assert vehicle is not None
        vehicle.name = PERSONAL["driver and plate (vehicle name)"]
        a = await s.get(Location, w.locations["A"][0])
        b = await s.get(Location, w.locations["B"][0])
        assert a is not None and b is not None
        a.name, b.name = "遮放冷库 1 号", "芒市农产品仓库"
        base = ProductionBase(
            org_id=w.org_id,
            county=w.county,
            name="遮放蔬菜基地",
            kind="farm",
            geometry={"type": "Point", "coordinates": [98.35, 24.30]},
            lon=98.35,
            lat=24.30,
            area_ha=12.5,
            created_by="test",
        )
        s.add(base)
        await s.flush()
        lot = await s.get(TraceLot, w.lot_id)
        assert lot is not None
        lot.origin_base_id = base.id
        lot.quantity = 500  # type: ignore[assignment]
        lot.unit = "KGM"
        lot.produced_on = (datetime.fromtimestamp(w.h0 / 1000, CST)).date()
        base_id = base.id
    await story(env.db, w)  # +5 min cold room A, +190 vehicle V, +220 warehouse B
    h = await env.headers(Role.COUNTY_ADMIN, w.county)

    def at(minutes: float) -> str:
        return datetime.fromtimestamp(w.at(minutes) / 1000, UTC).astimezone(CST).isoformat()

    r = await env.client.post(
        f"/api/v1/trace/lots/{w.gtin}/{w.lot}/tests",
        json={
            "biz_step": "inspecting",
            "time": at(60),
            "results": [
                {
                    "test": "pesticide_residue",
                    "analyte": "毒死蜱",
                    "value": 0.01,
                    "unit": "mg/kg",
                    "limit": 0.05,
                    "method": "rapid",
                },
            ],
        },
        headers=h,
    )
    assert r.status_code in (200, 201), r.text
    test_event = r.json()["event_id"] if "event_id" in r.json() else r.json()["eventID"]
    r = await env.client.post(
        f"/api/v1/trace/lots/{w.gtin}/{w.lot}/commitment-certificates",
        json={"basis": "self_test", "contact": CERT_CONTACT, "issued_at": at(30)},
        headers=h,
    )
    assert r.status_code == 201, r.text
    today = date.today()
    r = await env.client.post(
        "/api/v1/trace/certificates",
        json={
            "type": "green_food",
            "number": f"LB-{n}-2026",
            "holder_uscc": uscc(w.county, 500_000 + n % 10**5),
            "products": [w.gtin],
            "valid_from": (today - timedelta(days=300)).isoformat(),
            "valid_to": (today + timedelta(days=700)).isoformat(),
            "issuer": "中国绿色食品发展中心",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    now_min = (time.time() * 1000 - w.h0) / MINUTE_MS
    r = await env.client.post(
        "/api/v1/trace/ops/sell",
        json={
            "lots": [{"gtin": w.gtin, "lot": w.lot}],
            "time": at(now_min - 5),
            "buyer": f"{PERSONAL['buyer']} {PERSONAL['buyer phone']}",
            "note": PERSONAL["note"],
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    sale_event = r.json()["event_id"]
    # room A: an excursion (12 °C at +120..+140 min) and an outage (+60..+90); B until now
    await write(env.db, env.tsdb, readings(w, "A", -30, 200, excursion=True, skip=(60, 90)))
    await write(env.db, env.tsdb, readings(w, "B", 200, now_min + 1))
    r = await env.client.post(f"/api/v1/trace/lots/{w.gtin}/{w.lot}/custody/evidence", headers=h)
    assert r.status_code == 200, r.text
    files = files_for(env.settings)
    key = files.put(jpeg())
    async with env.db.transaction() as s:
        rec = InspectionRecord(
            gateway_id="gw-cam1",
            event_id=f"insp-{n}",
            county=w.county,
            site="pack",
            device="cam-1",
            ts=datetime.fromtimestamp(w.at(50) / 1000, UTC),
            program="fruit_grading",
            lot=w.lot_uri,
            usable=True,
            grade="G1",
            counts={"good": 46, "defect": 2},
            measurements={"mean_diameter_mm": 31.5},
            image_sha256="0" * 64,
            thumbnail_key=key,
            ts_ms=w.at(50),
        )
        s.add(rec)
        await s.flush()
        inspection_id = rec.id
    return PageWorld(w, base_id, inspection_id, test_event, sale_event)


def personal_hits(text: str) -> dict[str, str]:
    return {what: value for what, value in PERSONAL.items() if value in text}


def public_json_text(data: Any) -> str:
    import json

    return json.dumps(data, ensure_ascii=False)
