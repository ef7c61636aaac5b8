"""电商学院 (cloud/services/training) through the API: courses, trainers, sessions,
enrolments with sealed personal fields (masked without personal:read), QR check-in by
the trainee's phone (replayed, expired and forged codes refused with the reason),
certificates as PDF with a QR that verifies in public (forged and revoked shown
invalid), totals and monthly figures, the public calendar (ETag, no personal data), the
trainer's own-session scope, bad input naming its field, and the demo seed."""

from __future__ import annotations

import re
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloud.audit.storage import AuditEntry
from cloud.auth.principal import Role
from cloud.services.training import service, tokens
from cloud.services.training.demo import TRAINEES, seed_demo
from cloud.services.training.storage import Enrolment
from tests.cloud.training_support import (
    API,
    PUBLIC,
    STARTS,
    fresh_token,
    key,
    login_headers,
    new_phone,
    ring,
    session_body,
    world,
)
from tests.support.api import HOME, OTHER, ApiEnv, api_env


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])]
)
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def sql_env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    """The totals' GROUP BY runs on both databases in the default set."""
    async with api_env(request.param, tmp_path) as e:
        yield e


async def test_a_session_from_course_to_verified_certificate(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(f"{API}/courses", headers=h, json={
        "county": HOME, "title_zh": "直播带货实操", "title_en": "Live selling",
        "course_type": "live", "hours": 8})  # fmt: skip
    assert r.status_code == 201, r.text
    course = r.json()["id"]
    r = await env.client.post(f"{API}/trainers", headers=h,
                              json={"county": HOME, "name": "李老师", "speciality": "直播"})  # fmt: skip
    assert r.status_code == 201, r.text
    trainer = r.json()["id"]
    body = session_body({"course": course, "trainer": trainer})
    r = await env.client.post(f"{API}/sessions", headers=h, json=body)
    assert r.status_code == 201, r.text
    sess = r.json()
    assert (sess["county"], sess["month"], sess["course_type"], sess["trainer_name"]) == (
        HOME,
        "2026-03",
        "live",
        "李老师",
    )
    sid = sess["id"]
    for name, phone in (("岩保", "138-0013-8000"), ("玉南", "+8613900139000")):
        r = await env.client.post(f"{API}/sessions/{sid}/enrolments", headers=h,
                                  json={"name": name, "phone": phone})  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.json()["name"] == name  # a county admin reads personal data
    # stored sealed: no plaintext in the row
    async with env.db.session() as s:
        rows = list((await s.scalars(select(Enrolment).where(Enrolment.session_id == sid))).all())
    assert len(rows) == 2
    for e in rows:
        assert e.name_sealed.startswith("pii1.") and "岩保" not in e.name_sealed
        assert "13800138000" not in e.phone_sealed + e.phone_index
    # the same phone again is refused, naming the field
    r = await env.client.post(f"{API}/sessions/{sid}/enrolments", headers=h,
                              json={"name": "某人", "phone": "13800138000"})  # fmt: skip
    assert r.status_code == 409 and r.json()["field"] == "body.phone", r.text
    # the auditor lists them masked
    aud = await env.headers(Role.AUDITOR, HOME)
    r = await env.client.get(f"{API}/sessions/{sid}/enrolments", headers=aud)
    assert r.status_code == 200 and {x["name"] for x in r.json()} == {"***"}, r.text
    assert "13800138000" not in r.text
    # the room's QR
    r = await env.client.post(f"{API}/sessions/{sid}/checkin-code", headers=h)
    assert r.status_code == 200, r.text
    code = r.json()
    assert code["url"].startswith(str(env.settings.public_base_url).rstrip("/")
                                  + "/h5/training/checkin?t=")  # fmt: skip
    assert code["svg"].lstrip().startswith("<svg")
    token = code["token"]
    r = await env.client.post(f"{PUBLIC}/checkin", json={"token": token, "phone": "13800138000"})
    assert r.status_code == 200 and r.json()["already"] is False, r.text
    # the same code again: a replay, refused with the reason
    r = await env.client.post(f"{PUBLIC}/checkin", json={"token": token, "phone": "13800138000"})
    assert r.status_code == 409 and r.json()["field"] == "body.token", r.text
    assert "(replayed)" in r.json()["detail"]
    # a fresh code: already checked in, not an error
    r = await env.client.post(f"{PUBLIC}/checkin", json={
        "token": fresh_token(env, sid), "phone": "13800138000"})  # fmt: skip
    assert r.status_code == 200 and r.json()["already"] is True, r.text
    # a number not enrolled
    r = await env.client.post(f"{PUBLIC}/checkin", json={"token": token, "phone": "13700000000"})
    assert r.status_code == 404 and r.json()["field"] == "body.phone", r.text
    # the second trainee did not check in: no certificate
    ids = {e.id for e in rows}
    r = await env.client.get(f"{API}/sessions/{sid}/enrolments", headers=h)
    attended = [x["id"] for x in r.json() if x["checked_in_at"]]
    absent = (ids - set(attended)).pop()
    r = await env.client.post(f"{API}/certificates", headers=h, json={"enrolment_id": absent})
    assert r.status_code == 409 and r.json()["field"] == "body.enrolment_id", r.text
    r = await env.client.post(f"{API}/certificates", headers=h,
                              json={"enrolment_id": attended[0]})  # fmt: skip
    assert r.status_code == 201, r.text
    cert = r.json()
    url = cert["verify_url"]
    m = re.search(r"/h5/training/certificates/([0-9a-f]{16})\?c=([\w-]+)$", url)
    assert m, url
    ref, c = m[1], m[2]
    # the PDF: one A4 page, Chinese font, the QR's link is the verification URL
    r = await env.client.get(f"{API}/certificates/{cert['id']}/pdf", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    pdf = r.content
    assert pdf.startswith(b"%PDF-1.4") and b"/STSong-Light" in pdf
    assert f"/URI ({url})".encode() in pdf
    text = _pdf_text(pdf)
    assert "岩保" in text and "直播带货实操" in text and ref in text
    # auditor's PDF: the name masked
    assert "岩保" not in _pdf_text((await env.client.get(
        f"{API}/certificates/{cert['id']}/pdf", headers=aud)).content)  # fmt: skip
    # public verification: valid, holder masked
    r = await env.client.get(f"{PUBLIC}/certificates/{ref}", params={"c": c})
    v = r.json()
    assert r.status_code == 200 and v["valid"] is True and v["reason"] == "ok", v
    assert v["holder"] == "岩*" and v["course_title_zh"] == "直播带货实操"
    assert "etag" in r.headers
    # forged: a real number with another code; a made-up number
    r = await env.client.get(f"{PUBLIC}/certificates/{ref}", params={"c": c[:-1] + "x"})
    assert r.json()["valid"] is False and r.json()["reason"] == "forged"
    assert r.json()["holder"] is None
    r = await env.client.get(f"{PUBLIC}/certificates/0123456789abcdef", params={"c": c})
    assert r.json() == {**r.json(), "valid": False, "reason": "unknown"}
    page = await env.client.get(f"/h5/training/certificates/{ref}", params={"c": c})
    assert page.status_code == 200 and "证书有效" in page.text
    # revoked: invalid with the reason, on the JSON and the page
    r = await env.client.post(f"{API}/certificates/{cert['id']}/revoke", headers=h,
                              json={"reason": "考勤记录有误"})  # fmt: skip
    assert r.status_code == 200 and r.json()["revoked_reason"] == "考勤记录有误", r.text
    r = await env.client.get(f"{PUBLIC}/certificates/{ref}", params={"c": c})
    assert (r.json()["valid"], r.json()["reason"]) == (False, "revoked")
    page = await env.client.get(f"/h5/training/certificates/{ref}", params={"c": c})
    assert "证书无效" in page.text and "考勤记录有误" in page.text
    page = await env.client.get(f"/h5/training/certificates/{ref}", params={"c": "nope"})
    assert "证书无效" in page.text and "不是本平台签发" in page.text
    # every personal read was audited, naming the field, never the value
    async with env.db.session() as s:
        entries = list((await s.scalars(select(AuditEntry).where(
            AuditEntry.action == "pii.read"))).all())  # fmt: skip
    assert entries and all("岩保" not in str(x.detail) for x in entries)
    # totals: a revoked certificate does not count
    r = await env.client.get(f"{API}/totals", headers=h,
                             params={"start_month": "2026-03", "end_month": "2026-03"})  # fmt: skip
    assert r.json() == [{"county": HOME, "course_type": "live", "month": "2026-03",
                         "sessions": 1, "enrolled": 2, "attended": 1, "certificates": 0}]  # fmt: skip


def _pdf_text(pdf: bytes) -> str:
    """The page's text: the hex (UTF-16BE) and literal strings of its content stream."""
    stream = re.search(rb"stream\n(.*?)\nendstream", pdf[pdf.index(b"/FlateDecode") :], re.S)
    assert stream
    ops = zlib.decompress(stream[1]).decode("ascii")
    parts = [bytes.fromhex(h).decode("utf-16-be") for h in re.findall(r"<([0-9a-f]+)> Tj", ops)]
    parts += re.findall(r"\((.*?)\) Tj", ops)
    return "".join(parts)


async def test_checkin_codes_refused_with_their_reason(env: ApiEnv) -> None:
    w = await world(env, HOME)
    sid, phone = w["session"], w["phones"][1]
    now = datetime.now(UTC)
    expired, _ = tokens.make(key(env), sid, now - timedelta(seconds=200), ttl_s=120)
    good, _ = tokens.make(key(env), sid, now)
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    other_session = good.replace(f"{sid}.", f"{sid + 1000}.", 1)
    foreign, _ = tokens.make(b"k" * 32, sid, now)
    cases = [
        (expired, 410, "(expired)"),
        (forged, 422, "(forged)"),
        (other_session, 422, "(forged)"),
        (foreign, 422, "(forged)"),
        ("not-a-code", 422, "(malformed)"),
    ]
    for token, status, reason in cases:
        r = await env.client.post(f"{PUBLIC}/checkin", json={"token": token, "phone": phone})
        assert r.status_code == status and reason in r.json()["detail"], (token, r.text)
        assert r.json()["field"] == "body.token"
    # the phone page shows the same reasons, in Chinese first
    r = await env.client.post("/h5/training/checkin", data={"t": expired, "phone": phone})
    assert r.status_code == 410 and "签到码已过期" in r.text
    r = await env.client.get("/h5/training/checkin", params={"t": good})
    assert r.status_code == 200 and 'name="phone"' in r.text and good in r.text
    r = await env.client.post("/h5/training/checkin", data={"t": good, "phone": phone})
    assert r.status_code == 200 and "签到成功" in r.text, r.text
    r = await env.client.post("/h5/training/checkin", data={"t": good, "phone": phone})
    assert r.status_code == 409 and "已使用" in r.text
    r = await env.client.post("/h5/training/checkin", data={"t": good, "phone": "12"})
    assert r.status_code == 422 and "body.phone" in r.text
    # a cancelled session takes no check-in
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.patch(f"{API}/sessions/{sid}", headers=h, json={"status": "cancelled"})
    assert r.status_code == 200, r.text
    r = await env.client.post(f"{PUBLIC}/checkin", json={
        "token": fresh_token(env, sid), "phone": w["phones"][0]})  # fmt: skip
    assert r.status_code == 409 and "(cancelled)" in r.json()["detail"]
    r = await env.client.post(f"{API}/sessions/{sid}/checkin-code", headers=h)
    assert r.status_code == 409


async def test_a_trainer_sees_and_edits_only_its_own_sessions(env: ApiEnv) -> None:
    mine = await world(env, HOME, trainer_login="trainer-liu", phones=("13900000011",))
    theirs = await world(env, HOME, phones=("13900000012",))  # another trainer, same county
    h = await login_headers(env, "trainer-liu")
    r = await env.client.get(f"{API}/sessions", headers=h)
    assert [x["id"] for x in r.json()] == [mine["session"]], r.text
    r = await env.client.get(f"{API}/trainers", headers=h)
    assert [x["id"] for x in r.json()] == [mine["trainer"]]
    for url in (
        f"/sessions/{theirs['session']}",
        f"/sessions/{theirs['session']}/enrolments",
        f"/trainers/{theirs['trainer']}",
        f"/certificates/{theirs['certificate']}/pdf",
    ):
        r = await env.client.get(API + url, headers=h)
        assert r.status_code == 404, (url, r.text)
    r = await env.client.patch(f"{API}/sessions/{theirs['session']}", headers=h,
                               json={"capacity": 5})  # fmt: skip
    assert r.status_code == 404
    r = await env.client.post(f"{API}/sessions", headers=h, json=session_body(theirs))
    assert r.status_code == 404 and r.json()["field"] == "body.trainer_id", r.text
    r = await env.client.post(f"{API}/sessions", headers=h, json=session_body(mine))
    assert r.status_code == 201, r.text
    r = await env.client.patch(f"{API}/sessions/{mine['session']}", headers=h,
                               json={"place": "新教室"})  # fmt: skip
    assert r.status_code == 200 and r.json()["place"] == "新教室"
    # its own trainees, masked (a trainer has no personal:read)
    r = await env.client.get(f"{API}/sessions/{mine['session']}/enrolments", headers=h)
    assert [x["name"] for x in r.json()] == ["***"]
    r = await env.client.get(f"{API}/certificates", headers=h)
    assert [x["id"] for x in r.json()] == [mine["certificate"]]
    r = await env.client.get(f"{API}/totals", headers=h,
                             params={"start_month": "2026-03", "end_month": "2026-03",
                                     "group_by": "county"})  # fmt: skip
    assert r.json()[0]["sessions"] == 2, r.text  # its own two sessions, not the other's
    # courses and revocation are the county admins'
    r = await env.client.post(f"{API}/courses", headers=h, json={
        "county": HOME, "title_zh": "x", "course_type": "basics", "hours": 2})  # fmt: skip
    assert r.status_code == 403 and "training:manage" in r.json()["detail"]


async def test_totals_and_monthly_figures_by_county_type_and_month(sql_env: ApiEnv) -> None:
    env = sql_env
    await world(env, HOME)
    await world(env, HOME, phones=("13900000021", "13900000022", "13900000023"))
    await world(env, OTHER)
    pre = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.get(f"{API}/totals", headers=pre,
                             params={"start_month": "2026-01", "end_month": "2026-12"})  # fmt: skip
    assert r.json() == [
        {"county": "533103", "course_type": "store", "month": "2026-03", "sessions": 2,
         "enrolled": 5, "attended": 2, "certificates": 2},
        {"county": "533124", "course_type": "store", "month": "2026-03", "sessions": 1,
         "enrolled": 2, "attended": 1, "certificates": 1},
    ], r.text  # fmt: skip
    r = await env.client.get(f"{API}/totals", headers=pre, params={
        "start_month": "2026-04", "end_month": "2026-04", "group_by": "county"})  # fmt: skip
    assert r.json() == []
    figures = await service.monthly_figures(env.db, HOME, "2026-03")
    assert figures == {"county": HOME, "month": "2026-03", "training_sessions": 2,
                       "training_enrolled": 5, "training_attended": 2,
                       "training_certificates": 2}  # fmt: skip
    async with env.db.session() as s:
        everyone = await service.monthly_figures(s, "533100", "2026-03")
    assert everyone["training_sessions"] == 3 and everyone["training_certificates"] == 3
    assert (await service.monthly_figures(env.db, OTHER, "2026-02"))["training_sessions"] == 0


async def test_public_calendar_has_no_personal_data_and_an_etag(env: ApiEnv) -> None:
    w = await world(env, HOME)
    await world(env, OTHER)
    r = await env.client.get(f"{PUBLIC}/sessions", params={"from": "2026-03-01", "days": 60})
    assert r.status_code == 200, r.text
    rows = r.json()
    assert {x["county"] for x in rows} == {HOME, OTHER}
    mine = next(x for x in rows if x["id"] == w["session"])
    assert mine["seats_left"] == 28 and mine["course_type_zh"] == "网店运营"
    for secret in (*w["phones"], "学员0号", "刘老师", "trainer"):
        assert secret not in r.text
    r2 = await env.client.get(f"{PUBLIC}/sessions", params={"from": "2026-03-01", "days": 60},
                              headers={"If-None-Match": r.headers["etag"]})  # fmt: skip
    assert r2.status_code == 304
    r = await env.client.get(f"{PUBLIC}/sessions", params={"from": "2026-03-01", "county": OTHER})
    assert {x["county"] for x in r.json()} == {OTHER}
    page = await env.client.get("/h5/training", params={"from": "2026-03-01", "county": HOME})
    assert page.status_code == 200 and "网店运营" in page.text and "服务中心" in page.text
    assert "学员0号" not in page.text and w["phones"][0] not in page.text


BAD: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/courses", {"county": "999999", "title_zh": "x", "course_type": "basics",
                          "hours": 2}, "body.county"),
    ("POST", "/courses", {"county": HOME, "title_zh": "x", "course_type": "cooking",
                          "hours": 2}, "body.course_type"),
    ("POST", "/courses", {"county": HOME, "title_zh": "x", "course_type": "basics",
                          "hours": 0}, "body.hours"),
    ("POST", "/trainers", {"county": HOME, "name": "x", "username": "nobody"}, "body.username"),
    ("POST", "/trainers", {"county": HOME, "name": ""}, "body.name"),
    ("POST", "/sessions", {"course_id": 999999}, "body.course_id"),
    ("POST", "/sessions", {"trainer_id": 999999}, "body.trainer_id"),
    ("POST", "/sessions", {"ends_at": "2026-03-25T08:00:00+08:00"}, "body.ends_at"),
    ("POST", "/sessions", {"starts_at": "2026-03-25T09:00:00"}, "body.starts_at"),
    ("POST", "/sessions", {"capacity": 0}, "body.capacity"),
    ("POST", "/sessions/{s}/enrolments", {"name": "王五", "phone": "12345"}, "body.phone"),
    ("POST", "/sessions/{s}/enrolments", {"name": "\x01", "phone": "13712345678"}, "body.name"),
    ("PATCH", "/sessions/{s}", {"capacity": 1}, "body.capacity"),
    ("PATCH", "/sessions/{s}", {"ends_at": "2026-03-01T08:00:00+08:00"}, "body.ends_at"),
    ("PATCH", "/sessions/{s}", {"status": "done"}, "body.status"),
    ("POST", "/certificates", {"enrolment_id": 999999}, "body.enrolment_id"),
    ("POST", "/certificates/{c}/revoke", {"reason": ""}, "body.reason"),
    ("GET", "/totals?start_month=2026-13&end_month=2026-12", {}, "query.start_month"),
    ("GET", "/totals?start_month=2026-05&end_month=2026-04", {}, "query.end_month"),
    ("GET", "/totals?start_month=2026-01&end_month=2026-02&group_by=x", {}, "query.group_by.0"),
    ("GET", "/sessions?county=123", {}, "query.county"),
]  # fmt: skip


async def test_bad_input_is_refused_naming_its_field(env: ApiEnv) -> None:
    w = await world(env, HOME)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    for method, path, body, field in BAD:
        url = API + path.format(s=w["session"], c=w["certificate"])
        if path == "/sessions":
            body = {**session_body(w), **body}
        r = await env.client.request(method, url, headers=h,
                                     json=body if method != "GET" else None)  # fmt: skip
        assert r.status_code in (404, 409, 422), (path, body, r.status_code, r.text)
        assert r.json().get("field") == field, (path, body, r.text)
    for params, field in (({"from": "2026-02-30"}, "query.from"), ({"county": "12"}, "query.county"),
                          ({"days": 0}, "query.days"),
                          ({"from": "9999-12-31", "days": 366}, "query.from")):  # fmt: skip
        r = await env.client.get(f"{PUBLIC}/sessions", params=params)
        assert r.status_code == 422 and r.json()["field"] == field, r.text
    r = await env.client.post(f"{PUBLIC}/checkin", json={"token": "x", "phone": "1"})
    assert r.status_code == 422 and r.json()["field"] == "body.phone"


async def test_full_sessions_and_other_counties_refuse_enrolment(env: ApiEnv) -> None:
    w = await world(env, HOME)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.patch(f"{API}/sessions/{w['session']}", headers=h, json={"capacity": 2})
    assert r.status_code == 200
    r = await env.client.post(f"{API}/sessions/{w['session']}/enrolments", headers=h,
                              json={"name": "王五", "phone": new_phone()})  # fmt: skip
    assert r.status_code == 409 and "full" in r.json()["detail"]
    other = await env.headers(Role.COUNTY_ADMIN, OTHER)
    # a trainee without a smartphone, marked present by hand (once)
    r = await env.client.post(f"{API}/sessions/{w['session']}/attendance", headers=h,
                              json={"enrolment_id": w["enrolments"][1]})  # fmt: skip
    assert r.status_code == 201 and r.json()["checked_in_at"], r.text
    r = await env.client.post(f"{API}/sessions/{w['session']}/attendance", headers=h,
                              json={"enrolment_id": w["enrolments"][1]})  # fmt: skip
    assert r.status_code == 409 and r.json()["field"] == "body.enrolment_id", r.text
    r = await env.client.post(f"{API}/sessions/{w['session']}/attendance", headers=h,
                              json={"enrolment_id": 999999})  # fmt: skip
    assert r.status_code == 404 and r.json()["field"] == "body.enrolment_id", r.text
    r = await env.client.post(f"{API}/sessions/{w['session']}/enrolments", headers=other,
                              json={"name": "王五", "phone": new_phone()})  # fmt: skip
    assert r.status_code == 404


async def test_demo_seed_is_idempotent_and_verifies(env: ApiEnv) -> None:
    now = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)
    async with env.db.transaction() as s:
        first = await seed_demo(s, ring(env), now)
    async with env.db.transaction() as s:
        again = await seed_demo(s, ring(env), now)
    assert first == again
    figures = await service.monthly_figures(env.db, HOME, "2026-11")
    assert figures["training_sessions"] == 3 and figures["training_enrolled"] == len(TRAINEES)
    assert figures["training_attended"] == 4 and figures["training_certificates"] == 3
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.get(f"{API}/certificates", headers=h)
    url = r.json()[0]["verify_url"]
    ref, c = re.search(r"certificates/(\w+)\?c=([\w-]+)", url).groups()  # type: ignore[union-attr]
    r = await env.client.get(f"{PUBLIC}/certificates/{ref}", params={"c": c})
    assert r.json()["valid"] is True and r.json()["holder"] == "岩*"
    assert STARTS  # the world's clock is separate from the demo's


async def test_migration_1020_makes_the_tables_the_models_declare() -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from cloud.db.models import Base
    from tests.support.schema import sqlite_template

    engine = create_engine(f"sqlite:///{await sqlite_template()}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diff if "training_" in repr(d)] == []
