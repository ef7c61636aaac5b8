"""A training world for the tests (cloud/services/training): per county a course, a
trainer (linked to a trainer login when asked), a session, enrolments, a check-in and a
certificate, made through the service layer."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.auth.principal import Principal, Role
from cloud.pii import keyring_for
from cloud.services.training import service
from cloud.services.training.schemas import CourseIn, EnrolmentIn, SessionIn, TrainerIn
from tests.support.api import ApiEnv

API = "/api/v1/services/training"
PUBLIC = "/api/v1/public/training"
#: 10:00-16:00 Beijing, 20 March 2026
STARTS = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)
ENDS = STARTS + timedelta(hours=6)


def ring(env: ApiEnv) -> Any:
    return keyring_for(env.settings.pii_keys.get_secret_value(), None, demo=False)


def key(env: ApiEnv) -> bytes:
    from cloud.services.training.tokens import derive_key

    return derive_key(env.settings.jwt_secret.get_secret_value())


def admin(county: str) -> Principal:
    return Principal("user", "test-admin", Role.COUNTY_ADMIN, county)


async def world(env: ApiEnv, county: str, trainer_login: str | None = None,
                phones: tuple[str, ...] = ("13900000001", "13900000002")) -> dict[str, Any]:  # fmt: skip
    """A course, trainer, session of ``county`` with trainees of ``phones``; the first
    checked in and certified."""
    p = admin(county)
    async with env.db.transaction() as s:
        if trainer_login is not None:
            from cloud.auth.storage import User
            from cloud.db import utcnow

            s.add(User(username=trainer_login, password_hash="x", role=Role.TRAINER.value,
                       county=county, display_name="", disabled=False, created_at=utcnow()))  # fmt: skip
            await s.flush()
        course = await service.create_course(s, CourseIn(
            county=county, title_zh="网店运营", title_en="Shop operation", course_type="store",
            hours=8), p)  # fmt: skip
        trainer = await service.create_trainer(s, TrainerIn(
            county=county, name="刘老师", username=trainer_login), p)  # fmt: skip
        sess = await service.create_session(s, SessionIn(
            course_id=course.id, trainer_id=trainer.id, starts_at=STARTS, ends_at=ENDS,
            place="服务中心", capacity=30), p)  # fmt: skip
        enrolments = []
        for i, phone in enumerate(phones):
            e = await service.enrol(s, sess, EnrolmentIn(name=f"学员{i}号", phone=phone), p,
                                    ring(env))  # fmt: skip
            enrolments.append(e.id)
        token, _ = service.tokens.make(key(env), sess.id, STARTS)
        await service.check_in(s, key(env), token, phones[0], ring(env), STARTS)
        e0 = await service.get_enrolment(s, enrolments[0], p)
        cert = await service.issue_certificate(s, e0, p)
    return {"course": course.id, "trainer": trainer.id, "session": sess.id,
            "enrolments": enrolments, "certificate": cert.id, "ref": cert.ref,
            "code": cert.code, "county": county, "phones": phones}  # fmt: skip


def fresh_token(env: ApiEnv, session_id: int) -> str:
    token, _ = service.tokens.make(key(env), session_id, datetime.now(UTC))
    return token


def session_body(w: dict[str, Any]) -> dict[str, Any]:
    return {"course_id": w["course"], "trainer_id": w["trainer"],
            "starts_at": "2026-03-25T09:00:00+08:00", "ends_at": "2026-03-25T17:00:00+08:00",
            "place": "芒市服务站", "capacity": 20}  # fmt: skip


def new_phone() -> str:
    return "137" + f"{secrets.randbelow(10**8):08d}"


async def login_headers(env: ApiEnv, username: str) -> dict[str, str]:
    """Bearer headers of an existing user (a trainer login made by :func:`world`)."""
    from sqlalchemy import select

    from cloud.auth.service import issue_token
    from cloud.auth.storage import User

    async with env.db.session() as s:
        user = await s.scalar(select(User).where(User.username == username))
    assert user is not None, username
    token, _ = issue_token(user, env.settings.jwt_secret.get_secret_value(), 600)
    return {"Authorization": f"Bearer {token}"}
