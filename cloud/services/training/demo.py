"""Demo data of the academy (``seed_demo(session)``, idempotent): courses in two
counties, a trainer, a past session with enrolled trainees, their QR check-ins and
certificates, and upcoming sessions for the public calendar."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import utcnow
from cloud.pii import Keyring, blind_index, keyring_for, seal
from cloud.services.training.service import BEIJING, context, mask_name, month_of
from cloud.services.training.storage import (
    Attendance,
    Certificate,
    Course,
    Enrolment,
    Trainer,
    TrainingSession,
)
from cloud.settings import Settings

ACTOR = "demo:seed"
#: Demo trainees (made-up names; phones in a range no real subscriber holds: 1380000xxxx).
TRAINEES = (("岩温", "13800001001"), ("玉香", "13800001002"), ("张明", "13800001003"),
            ("李芳", "13800001004"), ("赵永刚", "13800001005"))  # fmt: skip
COURSES = (
    (
        "533103",
        "农村电商基础与网店开设",
        "Rural e-commerce basics and opening a shop",
        "basics",
        16,
    ),
    ("533103", "直播带货实操", "Live-stream selling in practice", "live", 8),
    ("533124", "德宏咖啡品牌与溯源", "Dehong coffee: brand and traceability", "brand", 6),
)


def _keyring(session: AsyncSession) -> Keyring:
    settings = session.info.get("dehong.settings") or Settings()
    return keyring_for(settings.pii_keys.get_secret_value(), settings.pii_key_file,
                       demo=settings.demo)  # fmt: skip


def _at(day: datetime, hour: int) -> datetime:
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


async def seed_demo(
    session: AsyncSession, keyring: Keyring | None = None, now: datetime | None = None
) -> dict[str, int]:
    """Seed once (a second call finds the demo courses and adds nothing). Returns the
    ids of the past session and its first certificate."""
    found = await session.scalar(select(Course.id).where(Course.created_by == ACTOR))
    if found is not None:
        past = await session.scalar(select(TrainingSession.id).where(
            TrainingSession.course_id == found).order_by(TrainingSession.id))  # fmt: skip
        cert = await session.scalar(select(Certificate.id).where(
            Certificate.session_id == past).order_by(Certificate.id))  # fmt: skip
        return {"session": int(past or 0), "certificate": int(cert or 0)}
    ring = keyring or _keyring(session)
    today = (now or utcnow()).astimezone(BEIJING)
    courses = []
    for county, zh, en, kind, hours in COURSES:
        c = Course(county=county, title_zh=zh, title_en=en, course_type=kind, hours=hours,
                   description="", created_by=ACTOR)  # fmt: skip
        session.add(c)
        courses.append(c)
    trainers = [
        Trainer(county="533103", name="李老师", speciality="网店运营、直播", created_by=ACTOR),
        Trainer(county="533124", name="王老师", speciality="咖啡品牌", created_by=ACTOR),
    ]
    session.add_all(trainers)
    await session.flush()

    def add_session(course: Course, trainer: Trainer, day: datetime, place: str,
                    capacity: int, hours: tuple[int, int] = (9, 17)) -> TrainingSession:  # fmt: skip
        starts = _at(day, hours[0])
        row = TrainingSession(
            course_id=course.id, trainer_id=trainer.id, county=course.county,
            course_type=course.course_type, starts_at=starts, ends_at=_at(day, hours[1]),
            month=month_of(starts), place=place, capacity=capacity, created_by=ACTOR,
        )  # fmt: skip
        session.add(row)
        return row

    past = add_session(courses[0], trainers[0], today - timedelta(days=3),
                       "芒市电子商务公共服务中心培训室", 40)  # fmt: skip
    add_session(courses[1], trainers[0], today + timedelta(days=2), "芒市勐焕街道电商服务站", 30,
                (14, 17))  # fmt: skip
    add_session(courses[0], trainers[0], today + timedelta(days=9), "芒市遮放镇服务站", 25)
    add_session(courses[2], trainers[1], today + timedelta(days=5), "陇川县电商服务中心", 35)
    await session.flush()
    enrolments = []
    for name, phone in TRAINEES:
        e = Enrolment(session_id=past.id, county=past.county, ref=f"demo{len(enrolments):04d}",
                      created_by=ACTOR, phone_index=blind_index(ring, "phone", phone),
                      name_sealed="", phone_sealed="")  # fmt: skip
        e.name_sealed = seal(ring, name, context(e.ref, "name"))
        e.name_masked = mask_name(name)
        e.phone_sealed = seal(ring, phone, context(e.ref, "phone"))
        session.add(e)
        enrolments.append(e)
    await session.flush()
    for i, e in enumerate(enrolments[:4]):
        session.add(Attendance(enrolment_id=e.id, session_id=past.id, nonce=f"demo-{i}",
                               checked_in_at=past.starts_at + timedelta(minutes=3 * i - 10)))  # fmt: skip
    certs = []
    for e in enrolments[:3]:
        c = Certificate(ref=secrets.token_hex(8), code=secrets.token_urlsafe(12),
                        enrolment_id=e.id, session_id=past.id, county=past.county,
                        month=month_of(past.ends_at), issued_at=past.ends_at,
                        issued_by=ACTOR)  # fmt: skip
        session.add(c)
        certs.append(c)
    await session.flush()
    return {"session": past.id, "certificate": certs[0].id}
