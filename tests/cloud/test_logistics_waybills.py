"""Waybills end to end through the API (SQLite and PostgreSQL): fleet, driver personal
data, a trip, the lifecycle with its trace events, mark_arrived, delivery with its
proof and one-time code, the PDF, and refusals that store nothing."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cloud.audit.storage import AuditEntry
from cloud.auth.policy import Role
from cloud.logistics.fleet.storage import Driver
from cloud.logistics.waybills import api as waybills_api
from cloud.logistics.waybills.states import IllegalTransition
from cloud.logistics.waybills.storage import Waybill, WaybillEvent
from cloud.trace.events.storage import TraceEvent
from tests.cloud.logistics_world import API, build, headers, move, trip, waybill, waybill_body
from tests.support.api import HOME, OTHER, ApiEnv, api_env


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


def _jpeg() -> str:
    import cv2
    import numpy as np

    ok, data = cv2.imencode(".jpg", np.full((48, 64, 3), (40, 120, 200), np.uint8))
    assert ok
    return base64.b64encode(data.tobytes()).decode()


def _png() -> str:
    from cloud.web.qr import qr_png

    return base64.b64encode(qr_png("signature")).decode()


async def _count(env: ApiEnv, model: type) -> int:
    async with env.db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_driver_personal_data_sealed_revealed_masked_audited(env: ApiEnv) -> None:
    w = await build(env, HOME)
    async with env.db.session() as s:
        row = await s.get_one(Driver, w.driver)
    assert "岩温" not in row.name_sealed and "13800138000" not in row.phone_sealed
    assert row.name_sealed.startswith("pii1.t1.")
    disp = await headers(env, Role.DISPATCHER, HOME)
    r = await env.client.get(f"{API}/drivers/{w.driver}", headers=disp)
    assert r.json()["name"] == "岩温" and r.json()["id_number"] == "11010519491231002X"
    r = await env.client.get(f"{API}/drivers/{w.driver}", headers=w.carrier_headers)
    assert r.json()["phone"] == "138 0013 8000"
    auditor = await headers(env, Role.AUDITOR, HOME)
    r = await env.client.get(f"{API}/drivers/{w.driver}", headers=auditor)
    assert r.status_code == 200 and r.json()["name"] == "***" and r.json()["phone"] == "***"
    r = await env.client.get(f"{API}/drivers", params={"phone": "13800138000"}, headers=disp)
    assert [d["id"] for d in r.json()] == [w.driver]
    # another carrier's staff and another county never see it
    other = await build(env, HOME, driver=False)
    r = await env.client.get(f"{API}/drivers/{w.driver}", headers=other.carrier_headers)
    assert r.status_code == 404
    r = await env.client.get(
        f"{API}/drivers/{w.driver}", headers=await headers(env, Role.DISPATCHER, OTHER)
    )
    assert r.status_code == 404
    async with env.db.session() as s:
        reads = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "pii.read",
                 AuditEntry.target == f"driver:{w.driver}"))).all()  # fmt: skip
    assert len(reads) >= 3 * 3, "every revealed field of every read is audited"
    assert all("138" not in str(e.detail) for e in reads)


async def test_driver_bad_input_named(env: ApiEnv) -> None:
    w = await build(env, HOME, driver=False)
    body = {"carrier_id": w.carrier, "name": "A", "phone": "13800138000",
            "id_number": "110105194912310021"}  # fmt: skip
    r = await env.client.post(f"{API}/drivers", json=body, headers=w.admin)
    assert r.status_code == 422 and r.json()["field"] == "body.id_number", r.text
    assert "check character" in r.json()["detail"]
    r = await env.client.post(f"{API}/drivers", json={**body, "id_number": None,
                              "carrier_id": w.coop}, headers=w.admin)  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "body.carrier_id"
    assert await _count(env, Driver) == 0


async def test_lifecycle_writes_trace_events_and_proof(env: ApiEnv) -> None:
    w = await build(env, HOME)
    wb = await waybill(env, w, receiver_phone="13912345678")
    t = await trip(env, w)
    # illegal transition: clear error, nothing stored
    events_before = await _count(env, WaybillEvent)
    r = await move(env, w.admin, wb, "departed")
    assert r.status_code == 409 and r.json()["field"] == "body.to"
    assert "cannot become departed" in r.json()["detail"] and "assigned" in r.json()["detail"]
    assert await _count(env, WaybillEvent) == events_before
    r = await move(env, w.admin, wb, "assigned", trip_id=t)
    assert r.status_code == 201 and r.json()["vehicle_id"] == w.vehicle, r.text
    # the driver loads: the trace's shipping event for the lot, into the compartment
    traced = await _count(env, TraceEvent)
    at = "2026-12-05T08:00:00+08:00"
    r = await move(env, w.driver_headers, wb, "loaded", at=at, request_id="phone-0001-load")
    assert r.status_code == 201, r.text
    assert await _count(env, TraceEvent) == traced + 1
    r = await move(env, w.driver_headers, wb, "loaded", at=at, request_id="phone-0001-load")
    assert r.status_code == 200, "a resent queued action is done once"
    async with env.db.session() as s:
        assert [x.lot for x in await waybills_api.lots_on_board(s, w.vehicle)] == [w.lot]
        assert [x.id for x in await waybills_api.waybills_of_trip(s, t)] == [wb]
    # the geofence marks it arrived (departing it first: the driver did not tap 发车)
    async with env.db.transaction() as s:
        assert await waybills_api.mark_arrived(s, wb, datetime(2026, 12, 5, 3, tzinfo=UTC))
    async with env.db.transaction() as s:
        assert not await waybills_api.mark_arrived(s, wb, datetime(2026, 12, 5, 4, tzinfo=UTC))
    # a one-time code for the receiver (the default sender only logs)
    sent: list[tuple[str, str]] = []

    async def sender(phone: str, text: str) -> None:
        sent.append((phone, text))

    env.app.state.delivery_code_sender = sender
    r = await env.client.post(f"{API}/waybills/{wb}/code", headers=w.driver_headers)
    assert r.status_code == 200 and r.json()["sent_to"].endswith("5678"), r.text
    code = sent[0][1].split("签收码 ")[1][:6]
    proof = {"receiver_name": "李四", "lat": 24.43, "lon": 98.58, "fix_at": "2026-12-05T11:05:00+08:00",
             "photo_jpeg": _jpeg(), "signature_png": _png()}  # fmt: skip
    wrong = "000000" if code != "000000" else "111111"
    r = await env.client.post(f"{API}/waybills/{wb}/deliver", json={**proof, "code": wrong},
                              headers=w.driver_headers)  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "body.code"
    r = await env.client.post(f"{API}/waybills/{wb}/deliver", json={**proof, "photo_jpeg": "bm90IGEganBlZw=="},
                              headers=w.driver_headers)  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] in ("body.photo_jpeg", "body.code")
    r = await env.client.post(f"{API}/waybills/{wb}/deliver", json={**proof, "code": code},
                              headers=w.driver_headers)  # fmt: skip
    assert r.status_code == 201 and r.json()["status"] == "delivered", r.text
    assert await _count(env, TraceEvent) == traced + 2, "delivery writes the receiving event"
    disp = await headers(env, Role.DISPATCHER, HOME)
    got = (await env.client.get(f"{API}/waybills/{wb}", headers=disp)).json()
    assert [e["to_status"] for e in got["events"]] == [
        "created",
        "assigned",
        "loaded",
        "departed",
        "arrived",
        "delivered",
    ]
    assert got["events"][3]["source"] == "geofence"
    assert got["pod"]["receiver_name"] == "李四" and got["pod"]["otp_verified"] is True
    trace_ids = [e["trace_event_id"] for e in got["events"] if e["trace_event_id"]]
    assert len(trace_ids) == 2
    load = await env.client.get(f"/api/v1/epcis/events/{trace_ids[0]}", headers=disp)
    receive = await env.client.get(f"/api/v1/epcis/events/{trace_ids[1]}", headers=disp)
    assert load.status_code == receive.status_code == 200, load.text
    assert "loading" in load.text and "in_transit" in load.text and w.lot in load.text, load.text
    assert "receiving" in receive.text and w.lot in receive.text, receive.text
    photo = await env.client.get(f"{API}/waybills/{wb}/pod/photo", headers=disp)
    assert photo.status_code == 200 and photo.content[:3] == b"\xff\xd8\xff"
    auditor = await headers(env, Role.AUDITOR, HOME)
    assert (await env.client.get(f"{API}/waybills/{wb}", headers=auditor)).json()["pod"][
        "receiver_name"] == "***"  # fmt: skip
    pdf = await env.client.get(f"{API}/waybills/{wb}/pdf", headers=disp)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-1.4")
    assert b"STSong-Light" in pdf.content
    with pytest.raises(IllegalTransition):
        async with env.db.transaction() as s:
            row = await s.get_one(Waybill, wb)
            from cloud.logistics.waybills.lifecycle import apply

            await apply(s, row, "loaded", actor="test", at=datetime.now(UTC), source="test")


async def test_capacity_refused_and_nothing_half_stored(env: ApiEnv) -> None:
    w = await build(env, HOME)
    t = await trip(env, w)
    big = await waybill(env, w, weight_kg=2500)
    assert (await move(env, w.admin, big, "assigned", trip_id=t)).status_code == 201
    more = await waybill(env, w, weight_kg=600)
    r = await move(env, w.admin, more, "assigned", trip_id=t)
    assert (
        r.status_code == 422
        and r.json()["field"] == "body.trip_id"
        and "3000 kg" in r.json()["detail"]
    )
    async with env.db.session() as s:
        row = await s.get_one(Waybill, more)
    assert row.status == "created" and row.trip_id is None
    # a lot of another county, an unknown destination: refused with the field
    r = await env.client.post(f"{API}/waybills", json=waybill_body(w, destination_id=2**31 - 1),
                              headers=w.admin)  # fmt: skip
    assert r.status_code == 404 and r.json()["field"] == "body.destination_id"
    r = await env.client.post(f"{API}/waybills", json=waybill_body(w, weight_kg=float("nan")) | {"weight_kg": "NaN"},
                              headers=w.admin)  # fmt: skip
    assert r.status_code == 422 and "weight_kg" in r.json()["field"]


async def test_supply_capacity_board_and_match(
    env: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await build(env, HOME)
    op = await headers(env, Role.OPERATOR, HOME, w.coop)
    body = {"org_id": w.coop, "description": "芒果 mango", "quantity_kg": 1200, "temp_class": "cool",
            "ready_from": "2026-12-05", "ready_until": "2026-12-07", "origin_id": w.warehouse}  # fmt: skip
    r = await env.client.post(f"{API}/supply", json=body, headers=op)
    assert r.status_code == 201, r.text
    post = r.json()["id"]
    r = await env.client.post(
        f"{API}/supply", json={**body, "ready_until": "2026-12-01"}, headers=op
    )
    assert r.status_code == 422 and r.json()["field"] == "body.ready_until", r.text
    t = await trip(env, w, "2026-12-05")
    wb = await waybill(env, w, weight_kg=2500)
    assert (await move(env, w.admin, wb, "assigned", trip_id=t)).status_code == 201
    disp = await headers(env, Role.DISPATCHER, HOME)
    board = (await env.client.get(f"{API}/capacity", params={"start": "2026-12-05", "days": 3,
             "temp_class": "cool"}, headers=disp)).json()  # fmt: skip
    first = {v["device_id"]: v["free_kg"] for v in board[0]["vehicles"]}
    assert first[w.vehicle] == 500 and board[1]["day"] == "2026-12-06"
    assert {v["device_id"]: v["free_kg"] for v in board[1]["vehicles"]}[w.vehicle] == 3000
    from cloud.logistics.supply import router as supply_router

    monkeypatch.setattr(supply_router, "today", lambda: datetime(2026, 12, 4).date())
    matches = (await env.client.get(f"{API}/supply/{post}/matches", headers=disp)).json()
    mine = [m for m in matches if m["vehicle"]["device_id"] == w.vehicle]
    assert [m["day"] for m in mine] == ["2026-12-06", "2026-12-07"], "day 5 has only 500 kg free"
    assert mine[0]["spare_kg"] == 1800


async def test_refused_loading_stores_nothing(env: ApiEnv) -> None:
    """A loading the trace refuses (here: the vehicle has no compartment to load into)
    leaves the waybill assigned, with no event, no audit entry and no trace event."""
    w = await build(env, HOME)
    r = await env.client.put(
        f"{API}/vehicles/{w.vehicle}",
        json={"plate": w.plate, "vehicle_type": "van", "refrigerated": True, "capacity_kg": 3000,
              "capacity_m3": 16, "compartments": []},
        headers=w.admin,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    wb = await waybill(env, w)
    assert (await move(env, w.admin, wb, "assigned", trip_id=await trip(env, w))).status_code == 201
    before = [await _count(env, m) for m in (WaybillEvent, TraceEvent, AuditEntry)]
    r = await move(env, w.driver_headers, wb, "loaded")
    assert r.status_code == 422 and r.json()["field"] == "waybill.vehicle_id", r.text
    assert "no compartment" in r.json()["detail"]
    assert [await _count(env, m) for m in (WaybillEvent, TraceEvent, AuditEntry)] == before
    async with env.db.session() as s:
        assert (await s.get_one(Waybill, wb)).status == "assigned"


async def test_roles_move_only_what_is_theirs(env: ApiEnv) -> None:
    w = await build(env, HOME)
    other = await build(env, HOME)
    wb = await waybill(env, w)
    assert (await move(env, w.admin, wb, "assigned", trip_id=await trip(env, w))).status_code == 201
    # another carrier's driver and staff: not found; a driver may not assign
    assert (await move(env, other.driver_headers, wb, "loaded")).status_code == 404
    assert (await move(env, other.carrier_headers, wb, "loaded")).status_code == 404
    wb2 = await waybill(env, w)
    r = await move(env, w.driver_headers, wb2, "assigned", trip_id=1)
    assert r.status_code == 404, "a driver does not see a waybill that is not on its trip"
    assert (await move(env, w.carrier_headers, wb, "loaded")).status_code == 201


def test_waybill_pdf_qr_decodes_and_text_does_not_overlap(tmp_path: Path) -> None:
    """The printed QR opens the waybill in the driver's page (poppler's rendering when
    installed); Chinese and Latin runs are placed apart (Courier 0.6 em, CJK 1 em)."""
    import re
    import shutil
    import subprocess

    import cv2

    from cloud.logistics.waybills.pdf import WaybillSheet, waybill_pdf
    from cloud.web.pdf import text_mixed
    from tests.cloud.test_labels import decode

    uri = "https://trace.dehong.example/m/driver#waybill=WB533124261205000017"
    sheet = WaybillSheet(
        number="WB533124261205000017", status_zh="已装车 loaded", shipper="陇川县芒果合作社",
        carrier="德宏冷链运输", plate="云N12345", origin="陇川集配中心", destination="瑞丽口岸果品仓",
        temp_class="cool", weight_kg=1200, volume_m3=6.5,
        lots=[("06901234000429", "LC-MG-001", "800 KGM")],
        created_at=datetime(2026, 12, 5, 1, tzinfo=UTC), day="2026-12-05", uri=uri,
    )  # fmt: skip
    pdf = waybill_pdf(sheet)
    assert re.findall(rb"/URI \((.*?)\) >>", pdf) == [uri.encode()]
    ops = text_mixed("运单 Waybill", 10, 20, 10)
    assert "/F2 10 Tf 10 20 Td" in ops and "/F1 10 Tf 30 20 Td ( Waybill)" in ops, ops
    if not shutil.which("pdftoppm"):
        pytest.skip("poppler-utils (pdftoppm) not installed")
    (tmp_path / "w.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-gray", "-png", str(tmp_path / "w.pdf"),
                    str(tmp_path / "p")], check=True, timeout=60)  # fmt: skip
    (page,) = sorted(tmp_path.glob("p-*.png"))
    gray = cv2.imread(str(page), cv2.IMREAD_GRAYSCALE)
    h, w = gray.shape
    assert decode(gray[: h // 4, w // 2 :]) == uri
