"""Records and cases of the training API (cloud/services/training): ``TRAINING_CASES``
(tests/cloud/test_api_isolation.py: a role of HOME sees and changes nothing of OTHER's),
``TRAINING_REQUESTS`` (tests/cloud/test_api_roles.py: one request per route, pages
included, on HOME's records) and ``seed_paged`` (tests/cloud/test_pagination.py)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from cloud.pii import blind_index, keyring_for, seal
from cloud.services.training import service
from cloud.services.training.storage import (
    Attendance,
    Certificate,
    Course,
    Enrolment,
    Trainer,
    TrainingSession,
)
from tests.cloud.training_support import (
    API,
    PUBLIC,
    STARTS,
    admin,
    fresh_token,
    new_phone,
    ring,
    session_body,
    world,
)
from tests.support.api import HOME, OTHER, PII_KEYS, ApiEnv

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
Call = Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]
V = API
TABLES = (Course, Trainer, TrainingSession, Enrolment, Attendance, Certificate)
MONTHS = {"start_month": "2026-03", "end_month": "2026-03"}


async def _world(env: ApiEnv, county: str) -> dict[str, Any]:
    cache: dict[str, Any] = env.__dict__.setdefault("_training_worlds", {})
    if county not in cache:
        phones = (new_phone(), new_phone())
        cache[county] = await world(env, county, phones=phones)
    return cache[county]  # type: ignore[no-any-return]


async def counts(env: ApiEnv) -> list[int]:
    async with env.db.session() as s:
        return [int(await s.scalar(select(func.count()).select_from(t)) or 0) for t in TABLES]


def _nf(r: httpx.Response, field: str | None = None) -> None:
    assert r.status_code == 404, (r.request.url, r.status_code, r.text)
    assert "not found" in r.json()["detail"], r.text
    if field is not None:
        assert r.json()["field"] == field, r.text


def _unchanged(
    f: Callable[[ApiEnv, Headers, dict[str, Any]], Awaitable[httpx.Response]],
    field: str | None = None,
) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        await _world(env, HOME)
        theirs = await _world(env, OTHER)
        before = await counts(env)
        _nf(await f(env, h, theirs), field)
        assert await counts(env) == before

    return case


def _refused_403(
    f: Callable[[ApiEnv, Headers, dict[str, Any]], Awaitable[httpx.Response]],
) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        theirs = await _world(env, OTHER)
        before = await counts(env)
        r = await f(env, h, theirs)
        assert r.status_code == 403, r.text
        assert await counts(env) == before

    return case


def _listed(path: str, key: str) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        await _world(env, HOME)
        theirs = await _world(env, OTHER)
        r = await env.client.get(f"{API}{path}", headers=h)
        assert r.status_code == 200, r.text
        assert theirs[key] not in {x["id"] for x in r.json()}, r.text
        assert {x["county"] for x in r.json()} <= {HOME}, r.text
        r = await env.client.get(f"{API}{path}", params={"county": OTHER}, headers=h)
        assert r.status_code == 403

    return case


async def totals_case(env: ApiEnv, h: Headers) -> None:
    await _world(env, HOME)
    await _world(env, OTHER)
    r = await env.client.get(f"{API}/totals", params=MONTHS, headers=h)
    assert r.status_code == 200 and {x["county"] for x in r.json()} <= {HOME}, r.text
    r = await env.client.get(f"{API}/totals", params={**MONTHS, "county": OTHER}, headers=h)
    assert r.status_code == 403


async def public_sessions_case(env: ApiEnv, h: Headers) -> None:
    theirs = await _world(env, OTHER)
    r = await env.client.get(f"{PUBLIC}/sessions", params={"from": "2026-03-01"}, headers=h)
    assert r.status_code == 200 and theirs["session"] in {x["id"] for x in r.json()}
    assert not any(p in r.text for p in theirs["phones"])


async def public_certificate_case(env: ApiEnv, h: Headers) -> None:
    theirs = await _world(env, OTHER)
    r = await env.client.get(f"{PUBLIC}/certificates/{theirs['ref']}",
                             params={"c": theirs["code"]}, headers=h)  # fmt: skip
    assert r.status_code == 200 and r.json()["holder"] == "学**号", r.text


async def public_checkin_case(env: ApiEnv, h: Headers) -> None:
    theirs = await _world(env, OTHER)
    before = await counts(env)
    token = fresh_token(env, theirs["session"])
    r = await env.client.post(f"{PUBLIC}/checkin", headers=h,
                              json={"token": token[:-3] + "abc", "phone": theirs["phones"][1]})  # fmt: skip
    assert r.status_code == 422 and "(forged)" in r.json()["detail"], r.text
    assert await counts(env) == before


def _body_with(key: str, value_key: str) -> Callable[[dict[str, Any], dict[str, Any]], Any]:
    return lambda mine, theirs: {**session_body(mine), key: theirs[value_key]}


async def session_post_case(env: ApiEnv, h: Headers) -> None:
    mine = await _world(env, HOME)
    theirs = await _world(env, OTHER)
    before = await counts(env)
    r = await env.client.post(f"{API}/sessions", headers=h,
                              json={**session_body(mine), "course_id": theirs["course"]})  # fmt: skip
    _nf(r, "body.course_id")
    r = await env.client.post(f"{API}/sessions", headers=h, json=session_body(theirs))
    _nf(r, "body.course_id")
    assert await counts(env) == before


TRAINING_CASES: dict[tuple[str, str], Case] = {
    ("POST", f"{V}/courses"): _refused_403(
        lambda e, h, t: e.client.post(
            f"{API}/courses",
            headers=h,
            json={"county": OTHER, "title_zh": "x", "course_type": "basics", "hours": 2},
        )
    ),
    ("GET", f"{V}/courses"): _listed("/courses", "course"),
    ("GET", f"{V}/courses/{{course_id}}"): _unchanged(
        lambda e, h, t: e.client.get(f"{API}/courses/{t['course']}", headers=h)
    ),
    ("POST", f"{V}/trainers"): _refused_403(
        lambda e, h, t: e.client.post(
            f"{API}/trainers", headers=h, json={"county": OTHER, "name": "某老师"}
        )
    ),
    ("GET", f"{V}/trainers"): _listed("/trainers", "trainer"),
    ("GET", f"{V}/trainers/{{trainer_id}}"): _unchanged(
        lambda e, h, t: e.client.get(f"{API}/trainers/{t['trainer']}", headers=h)
    ),
    ("POST", f"{V}/sessions"): session_post_case,
    ("GET", f"{V}/sessions"): _listed("/sessions", "session"),
    ("GET", f"{V}/sessions/{{session_id}}"): _unchanged(
        lambda e, h, t: e.client.get(f"{API}/sessions/{t['session']}", headers=h)
    ),
    ("PATCH", f"{V}/sessions/{{session_id}}"): _unchanged(
        lambda e, h, t: e.client.patch(
            f"{API}/sessions/{t['session']}", headers=h, json={"status": "cancelled"}
        )
    ),
    ("POST", f"{V}/sessions/{{session_id}}/enrolments"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{API}/sessions/{t['session']}/enrolments",
            headers=h,
            json={"name": "王五", "phone": new_phone()},
        )
    ),
    ("GET", f"{V}/sessions/{{session_id}}/enrolments"): _unchanged(
        lambda e, h, t: e.client.get(f"{API}/sessions/{t['session']}/enrolments", headers=h)
    ),
    ("POST", f"{V}/sessions/{{session_id}}/checkin-code"): _unchanged(
        lambda e, h, t: e.client.post(f"{API}/sessions/{t['session']}/checkin-code", headers=h)
    ),
    ("POST", f"{V}/sessions/{{session_id}}/attendance"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{API}/sessions/{t['session']}/attendance",
            headers=h,
            json={"enrolment_id": t["enrolments"][1]},
        )
    ),
    ("POST", f"{V}/certificates"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{API}/certificates", headers=h, json={"enrolment_id": t["enrolments"][1]}
        ),
        "body.enrolment_id",
    ),
    ("GET", f"{V}/certificates"): _listed("/certificates", "certificate"),
    ("GET", f"{V}/certificates/{{certificate_id}}/pdf"): _unchanged(
        lambda e, h, t: e.client.get(f"{API}/certificates/{t['certificate']}/pdf", headers=h)
    ),
    ("POST", f"{V}/certificates/{{certificate_id}}/revoke"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{API}/certificates/{t['certificate']}/revoke", headers=h, json={"reason": "测试撤销"}
        )
    ),
    ("GET", f"{V}/totals"): totals_case,
    ("GET", f"{PUBLIC}/sessions"): public_sessions_case,
    ("GET", f"{PUBLIC}/certificates/{{ref}}"): public_certificate_case,
    ("POST", f"{PUBLIC}/checkin"): public_checkin_case,
}


# ---------------------------------------------------------------- roles x endpoints


def _call(f: Callable[[ApiEnv, Headers, dict[str, Any]], Awaitable[httpx.Response]]) -> Call:
    async def call(env: ApiEnv, h: Headers) -> httpx.Response:
        return await f(env, h, await _world(env, HOME))

    return call


async def _certifiable(env: ApiEnv, w: dict[str, Any]) -> int:
    """A new trainee of HOME's session, checked in: an enrolment to certify."""
    phone = new_phone()
    async with env.db.transaction() as s:
        sess = await service.get_session(s, w["session"], admin(HOME))
        from cloud.services.training.schemas import EnrolmentIn

        e = await service.enrol(s, sess, EnrolmentIn(name="新学员", phone=phone), admin(HOME),
                                ring(env))  # fmt: skip
        token = fresh_token(env, sess.id)
        await service.check_in(s, service.tokens.derive_key(
            env.settings.jwt_secret.get_secret_value()), token, phone, ring(env),
            datetime.now(UTC))  # fmt: skip
        return e.id


async def _certificate_post(env: ApiEnv, h: Headers) -> httpx.Response:
    w = await _world(env, HOME)
    return await env.client.post(f"{API}/certificates", headers=h,
                                 json={"enrolment_id": await _certifiable(env, w)})  # fmt: skip


TRAINING_REQUESTS: dict[tuple[str, str], Call] = {
    ("POST", f"{V}/courses"): _call(lambda e, h, w: e.client.post(f"{API}/courses", headers=h, json={
        "county": HOME, "title_zh": "农村电商基础", "course_type": "basics", "hours": 4})),
    ("GET", f"{V}/courses"): _call(lambda e, h, w: e.client.get(f"{API}/courses", headers=h)),
    ("GET", f"{V}/courses/{{course_id}}"): _call(
        lambda e, h, w: e.client.get(f"{API}/courses/{w['course']}", headers=h)),
    ("POST", f"{V}/trainers"): _call(lambda e, h, w: e.client.post(
        f"{API}/trainers", headers=h, json={"county": HOME, "name": "赵老师"})),
    ("GET", f"{V}/trainers"): _call(lambda e, h, w: e.client.get(f"{API}/trainers", headers=h)),
    ("GET", f"{V}/trainers/{{trainer_id}}"): _call(
        lambda e, h, w: e.client.get(f"{API}/trainers/{w['trainer']}", headers=h)),
    ("POST", f"{V}/sessions"): _call(
        lambda e, h, w: e.client.post(f"{API}/sessions", headers=h, json=session_body(w))),
    ("GET", f"{V}/sessions"): _call(lambda e, h, w: e.client.get(f"{API}/sessions", headers=h)),
    ("GET", f"{V}/sessions/{{session_id}}"): _call(
        lambda e, h, w: e.client.get(f"{API}/sessions/{w['session']}", headers=h)),
    ("PATCH", f"{V}/sessions/{{session_id}}"): _call(lambda e, h, w: e.client.patch(
        f"{API}/sessions/{w['session']}", headers=h, json={"place": "培训室 2"})),
    ("POST", f"{V}/sessions/{{session_id}}/enrolments"): _call(lambda e, h, w: e.client.post(
        f"{API}/sessions/{w['session']}/enrolments", headers=h,
        json={"name": "王五", "phone": new_phone()})),
    ("GET", f"{V}/sessions/{{session_id}}/enrolments"): _call(lambda e, h, w: e.client.get(
        f"{API}/sessions/{w['session']}/enrolments", headers=h)),
    ("POST", f"{V}/sessions/{{session_id}}/checkin-code"): _call(lambda e, h, w: e.client.post(
        f"{API}/sessions/{w['session']}/checkin-code", headers=h)),
    ("POST", f"{V}/sessions/{{session_id}}/attendance"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/sessions/{w['session']}/attendance",
            headers=h,
            json={"enrolment_id": w["enrolments"][1]},
        )
    ),
    ("POST", f"{V}/certificates"): _certificate_post,
    ("GET", f"{V}/certificates"): _call(
        lambda e, h, w: e.client.get(f"{API}/certificates", headers=h)),
    ("GET", f"{V}/certificates/{{certificate_id}}/pdf"): _call(lambda e, h, w: e.client.get(
        f"{API}/certificates/{w['certificate']}/pdf", headers=h)),
    ("POST", f"{V}/certificates/{{certificate_id}}/revoke"): _call(lambda e, h, w: e.client.post(
        f"{API}/certificates/{w['certificate']}/revoke", headers=h, json={"reason": "测试撤销"})),
    ("GET", f"{V}/totals"): _call(
        lambda e, h, w: e.client.get(f"{API}/totals", params=MONTHS, headers=h)),
    ("GET", f"{PUBLIC}/sessions"): _call(lambda e, h, w: e.client.get(
        f"{PUBLIC}/sessions", params={"from": "2026-03-01"}, headers=h)),
    ("GET", f"{PUBLIC}/certificates/{{ref}}"): _call(lambda e, h, w: e.client.get(
        f"{PUBLIC}/certificates/{w['ref']}", params={"c": w["code"]}, headers=h)),
    ("POST", f"{PUBLIC}/checkin"): _call(lambda e, h, w: e.client.post(
        f"{PUBLIC}/checkin", headers=h,
        json={"token": fresh_token(e, w["session"]), "phone": w["phones"][1]})),
    ("GET", "/h5/training"): _call(lambda e, h, w: e.client.get("/h5/training", headers=h)),
    ("GET", "/h5/training/checkin"): _call(lambda e, h, w: e.client.get(
        "/h5/training/checkin", params={"t": fresh_token(e, w["session"])}, headers=h)),
    ("POST", "/h5/training/checkin"): _call(lambda e, h, w: e.client.post(
        "/h5/training/checkin", headers=h,
        data={"t": fresh_token(e, w["session"]), "phone": w["phones"][1]})),
    ("GET", "/h5/training/certificates/{ref}"): _call(lambda e, h, w: e.client.get(
        f"/h5/training/certificates/{w['ref']}", params={"c": w["code"]}, headers=h)),
}  # fmt: skip


# ------------------------------------------------------------------------ pagination

#: The walked lists (tests/cloud/test_pagination.py): HOME's first session holds the
#: enrolments of every call.
PAGED_LISTS = {
    f"{API}/courses": (lambda b: b, lambda x: x["id"]),
    f"{API}/trainers": (lambda b: b, lambda x: x["id"]),
    f"{API}/sessions": (lambda b: b, lambda x: x["id"]),
    f"{API}/certificates": (lambda b: b, lambda x: x["id"]),
    f"{API}/sessions/1/enrolments": (lambda b: b, lambda x: x["id"]),
}
PAGED_ROUTE_OF = {f"{API}/sessions/1/enrolments": f"{API}/sessions/{{session_id}}/enrolments"}
BOUNDED = {f"{API}/totals": "one row per group: at most 4 counties x 6 course types x the "
           "months asked (a year: 288)"}  # fmt: skip


async def seed_paged(s: Any, county: str, i: int) -> None:
    """A course, trainer and session of ``county`` (one per call), and a trainee of the
    county's first session, checked in and certified."""
    ring_ = keyring_for(PII_KEYS, None, demo=False)
    course = Course(county=county, title_zh=f"课程 {i}", course_type="basics", hours=2,
                    created_by="test")  # fmt: skip
    trainer = Trainer(county=county, name=f"老师 {i}", created_by="test")
    s.add_all([course, trainer])
    await s.flush()
    s.add(TrainingSession(course_id=course.id, trainer_id=trainer.id, county=county,
                          course_type="basics", starts_at=STARTS, ends_at=STARTS, month="2026-03",
                          place="x", capacity=50, created_by="test"))  # fmt: skip
    await s.flush()
    first = await s.scalar(select(func.min(TrainingSession.id)).where(
        TrainingSession.county == county))  # fmt: skip
    ref = secrets.token_hex(8)
    phone = new_phone()
    e = Enrolment(session_id=first, county=county, ref=ref, created_by="test",
                  name_sealed=seal(ring_, f"学员 {i}", f"training_enrolments.name:{ref}"), name_masked="学*",
                  phone_sealed=seal(ring_, phone, f"training_enrolments.phone:{ref}"),
                  phone_index=blind_index(ring_, "phone", phone))  # fmt: skip
    s.add(e)
    await s.flush()
    s.add(Attendance(enrolment_id=e.id, session_id=first, nonce=f"p{i}"))
    s.add(Certificate(ref=secrets.token_hex(8), code="x", enrolment_id=e.id, session_id=first,
                      county=county, month="2026-03", issued_by="test"))  # fmt: skip
