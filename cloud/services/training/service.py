"""Training rules: who sees which record, enrolments with sealed personal fields, QR
check-in, certificates, totals and the monthly figures of the MOFCOM export.

Who sees what: county roles (admins, auditor) their county (the prefecture: all); a
trainer (role ``trainer``, linked by ``Trainer.username``) only its own trainer record,
sessions and their enrolments and certificates. Another county's record, or another
trainer's, is 404: never revealed. Writes need ``training:write`` (sessions, enrolments,
check-in codes, certificates: a trainer for its own sessions) or ``training:manage``
(courses, trainers, revoking certificates: county admins).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth import policy
from cloud.auth.principal import Principal
from cloud.auth.storage import User
from cloud.db import Database, utcnow
from cloud.errors import ApiError
from cloud.pii import Keyring, blind_index, blind_indexes, reveal, seal
from cloud.services.training import tokens
from cloud.services.training.pdf import Sheet, certificate_pdf
from cloud.services.training.schemas import (
    CertificateOut,
    CheckinOut,
    CourseIn,
    EnrolmentIn,
    EnrolmentOut,
    PublicSession,
    SessionIn,
    SessionOut,
    SessionPatch,
    TotalRow,
    TrainerIn,
    Verification,
)
from cloud.services.training.storage import (
    COURSE_TYPES,
    Attendance,
    Certificate,
    Course,
    Enrolment,
    Trainer,
    TrainingSession,
)
from protocol.ids import COUNTIES, COUNTY_CODES, PREFECTURE

BEIJING = timezone(timedelta(hours=8))
TABLE = "training_enrolments"
#: Where the certificate's QR points (a page; its JSON is under /api/v1/public).
VERIFY_PAGE = "/h5/training/certificates"
CHECKIN_PAGE = "/h5/training/checkin"


def month_of(t: datetime) -> str:
    b = t.astimezone(BEIJING)
    return f"{b.year:04d}-{b.month:02d}"


def context(ref: str, field: str) -> str:
    return f"{TABLE}.{field}:{ref}"


def not_found(what: str, ident: object, field: str | None = None) -> ApiError:
    prefix = f"{field}: " if field else ""
    return ApiError(404, f"{prefix}{what} {ident} not found", field=field)


# ------------------------------------------------------------------ who sees what


def is_trainer(principal: Principal) -> bool:
    return principal.role is policy.Role.TRAINER


def _own_trainer_ids(principal: Principal) -> Select[Any]:
    """The trainer records of a trainer login (by its username)."""
    name = principal.name if principal.kind == "user" else "\0"
    return select(Trainer.id).where(Trainer.username == name)


def _scope_sessions(
    q: Select[Any], principal: Principal, counties: list[str] | None
) -> Select[Any]:
    if counties is not None:
        q = q.where(TrainingSession.county.in_(counties))
    if is_trainer(principal):
        q = q.where(TrainingSession.trainer_id.in_(_own_trainer_ids(principal)))
    return q


async def sees_session(s: AsyncSession, principal: Principal, row: TrainingSession) -> bool:
    if not principal.can_see(row.county):
        return False
    if is_trainer(principal):
        trainer = await s.get(Trainer, row.trainer_id)
        return (
            trainer is not None
            and principal.kind == "user"
            and (trainer.username == principal.name)
        )
    return True


async def get_session(
    s: AsyncSession, session_id: int, principal: Principal, field: str | None = None
) -> TrainingSession:
    row = await s.get(TrainingSession, session_id)
    if row is None or not await sees_session(s, principal, row):
        raise not_found("session", session_id, field)
    return row


# ------------------------------------------------------------------ courses


async def create_course(s: AsyncSession, body: CourseIn, principal: Principal) -> Course:
    if body.county not in COUNTY_CODES:
        raise ApiError(422, f"body.county: {body.county!r} is not one of Dehong's counties "
                       f"({', '.join(COUNTY_CODES)})", field="body.county")  # fmt: skip
    principal.require_write(body.county)
    row = Course(**body.model_dump(), created_by=principal.actor)
    s.add(row)
    await s.flush()
    await record(s, principal.actor, "training.course.created", f"training_course:{row.id}",
                 row.county, {"title_zh": row.title_zh, "course_type": row.course_type})  # fmt: skip
    return row


def courses_query(counties: list[str] | None) -> Select[Any]:
    q = select(Course)
    return q if counties is None else q.where(Course.county.in_(counties))


async def get_course(
    s: AsyncSession, course_id: int, principal: Principal, field: str | None = None
) -> Course:
    row = await s.get(Course, course_id)
    if row is None or not principal.can_see(row.county):
        raise not_found("course", course_id, field)
    return row


# ------------------------------------------------------------------ trainers


async def create_trainer(s: AsyncSession, body: TrainerIn, principal: Principal) -> Trainer:
    if body.county not in COUNTY_CODES:
        raise ApiError(422, f"body.county: {body.county!r} is not one of Dehong's counties "
                       f"({', '.join(COUNTY_CODES)})", field="body.county")  # fmt: skip
    principal.require_write(body.county)
    if body.username is not None:
        user = await s.scalar(select(User).where(User.username == body.username))
        if user is None or user.role != policy.Role.TRAINER.value or user.county != body.county:
            raise ApiError(422, f"body.username: no trainer login {body.username!r} in county "
                           f"{body.county} (create the user with role trainer first)",
                           field="body.username")  # fmt: skip
        if await s.scalar(select(Trainer.id).where(Trainer.username == body.username)):
            raise ApiError(409, f"body.username: {body.username!r} is another trainer's login",
                           field="body.username")  # fmt: skip
    row = Trainer(**body.model_dump(), created_by=principal.actor)
    s.add(row)
    await s.flush()
    await record(s, principal.actor, "training.trainer.created", f"training_trainer:{row.id}",
                 row.county, {"username": row.username})  # fmt: skip
    return row


def trainers_query(principal: Principal, counties: list[str] | None) -> Select[Any]:
    q = select(Trainer)
    if counties is not None:
        q = q.where(Trainer.county.in_(counties))
    if is_trainer(principal):
        q = q.where(Trainer.id.in_(_own_trainer_ids(principal)))
    return q


async def get_trainer(
    s: AsyncSession, trainer_id: int, principal: Principal, field: str | None = None
) -> Trainer:
    row = await s.get(Trainer, trainer_id)
    visible = row is not None and principal.can_see(row.county)
    if visible and row is not None and is_trainer(principal):
        visible = principal.kind == "user" and row.username == principal.name
    if row is None or not visible:
        raise not_found("trainer", trainer_id, field)
    return row


# ------------------------------------------------------------------ sessions


async def create_session(s: AsyncSession, body: SessionIn, principal: Principal) -> TrainingSession:
    course = await get_course(s, body.course_id, principal, "body.course_id")
    trainer = await get_trainer(s, body.trainer_id, principal, "body.trainer_id")
    if trainer.county != course.county:
        raise ApiError(422, f"body.trainer_id: trainer {trainer.id} teaches in {trainer.county}, "
                       f"the course is of {course.county}", field="body.trainer_id")  # fmt: skip
    row = TrainingSession(
        course_id=course.id, trainer_id=trainer.id, county=course.county,
        course_type=course.course_type, starts_at=body.starts_at, ends_at=body.ends_at,
        month=month_of(body.starts_at), place=body.place, capacity=body.capacity,
        status="scheduled", created_by=principal.actor,
    )  # fmt: skip
    s.add(row)
    await s.flush()
    await record(s, principal.actor, "training.session.created", f"training_session:{row.id}",
                 row.county, {"course_id": course.id, "trainer_id": trainer.id,
                              "starts_at": row.starts_at.isoformat(), "place": row.place,
                              "capacity": row.capacity})  # fmt: skip
    return row


async def _counts(s: AsyncSession, session_id: int) -> tuple[int, int]:
    enrolled = await s.scalar(
        select(func.count()).select_from(Enrolment).where(Enrolment.session_id == session_id)
    )
    attended = await s.scalar(
        select(func.count()).select_from(Attendance).where(Attendance.session_id == session_id)
    )
    return int(enrolled or 0), int(attended or 0)


async def patch_session(
    s: AsyncSession, row: TrainingSession, body: SessionPatch, principal: Principal
) -> TrainingSession:
    changes = body.model_dump(exclude_unset=True)
    for key in ("starts_at", "ends_at", "place", "capacity", "status"):
        if key in changes and changes[key] is None:
            raise ApiError(422, f"body.{key}: may not be null", field=f"body.{key}")
    starts = changes.get("starts_at", row.starts_at)
    ends = changes.get("ends_at", row.ends_at)
    if ends <= starts:
        raise ApiError(422, "body.ends_at: the session must end after it starts",
                       field="body.ends_at")  # fmt: skip
    if "capacity" in changes:
        enrolled, _ = await _counts(s, row.id)
        if changes["capacity"] < enrolled:
            raise ApiError(409, f"body.capacity: {enrolled} trainees are enrolled already",
                           field="body.capacity")  # fmt: skip
    before = {k: getattr(row, k) for k in changes}
    for key, value in changes.items():
        setattr(row, key, value)
    row.month = month_of(row.starts_at)
    await s.flush()
    await record(s, principal.actor, "training.session.changed", f"training_session:{row.id}",
                 row.county, {"before": _plain(before), "after": _plain(changes)})  # fmt: skip
    return row


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in d.items()}


def sessions_query(
    principal: Principal,
    counties: list[str] | None,
    month: str | None = None,
    course_id: int | None = None,
) -> Select[Any]:
    q = _scope_sessions(select(TrainingSession), principal, counties)
    if month is not None:
        q = q.where(TrainingSession.month == month)
    if course_id is not None:
        q = q.where(TrainingSession.course_id == course_id)
    return q


async def session_out(s: AsyncSession, row: TrainingSession) -> SessionOut:
    course = await s.get(Course, row.course_id)
    trainer = await s.get(Trainer, row.trainer_id)
    assert course is not None and trainer is not None
    enrolled, attended = await _counts(s, row.id)
    return SessionOut(
        id=row.id, course_id=row.course_id, course_title_zh=course.title_zh,
        course_title_en=course.title_en, course_type=row.course_type, trainer_id=row.trainer_id,
        trainer_name=trainer.name, county=row.county, starts_at=row.starts_at,
        ends_at=row.ends_at, month=row.month, place=row.place, capacity=row.capacity,
        enrolled=enrolled, attended=attended, status=row.status,
    )  # fmt: skip


# ------------------------------------------------------------------ enrolments


async def enrol(
    s: AsyncSession, row: TrainingSession, body: EnrolmentIn, principal: Principal, ring: Keyring
) -> Enrolment:
    if row.status != "scheduled":
        raise ApiError(409, f"session {row.id} is {row.status}: no enrolment",
                       field="path.session_id")  # fmt: skip
    enrolled, _ = await _counts(s, row.id)
    if enrolled >= row.capacity:
        raise ApiError(409, f"session {row.id} is full ({row.capacity} places)",
                       field="path.session_id")  # fmt: skip
    dup = await s.scalar(select(Enrolment.id).where(
        Enrolment.session_id == row.id,
        Enrolment.phone_index.in_(blind_indexes(ring, "phone", body.phone))))  # fmt: skip
    if dup is not None:
        raise ApiError(409, f"body.phone: this phone is enrolled in session {row.id} already "
                       f"(enrolment {dup})", field="body.phone")  # fmt: skip
    ref = secrets.token_hex(8)
    e = Enrolment(
        session_id=row.id, county=row.county, ref=ref,
        name_sealed=seal(ring, body.name, context(ref, "name")), name_masked=mask_name(body.name),
        phone_sealed=seal(ring, body.phone, context(ref, "phone")),
        phone_index=blind_index(ring, "phone", body.phone), created_by=principal.actor,
    )  # fmt: skip
    s.add(e)
    await s.flush()
    await record(s, principal.actor, "training.enrolled", f"training_enrolment:{e.id}",
                 row.county, {"session_id": row.id},
                 personal_changed=["full_name", "phone"])  # fmt: skip
    return e


def enrolments_query(session_id: int) -> Select[Any]:
    return select(Enrolment).where(Enrolment.session_id == session_id)


async def enrolment_out(
    s: AsyncSession, e: Enrolment, principal: Principal, ring: Keyring
) -> EnrolmentOut:
    """Name and phone revealed (each read audited) to roles with ``personal:read``;
    ``***`` to the others (an auditor, a trainer)."""
    if policy.sees_personal_data(principal):
        values = {}
        for field in ("name", "phone"):
            values[field] = await reveal(
                s, ring, getattr(e, f"{field}_sealed"), context=context(e.ref, field),
                actor=principal.actor, county=e.county, target=f"training_enrolment:{e.id}",
                field=field,
            )  # fmt: skip
    else:
        values = {"name": policy.MASK, "phone": policy.MASK}
    att = await s.scalar(select(Attendance.checked_in_at).where(Attendance.enrolment_id == e.id))
    cert = await s.scalar(select(Certificate.id).where(Certificate.enrolment_id == e.id))
    return EnrolmentOut(id=e.id, session_id=e.session_id, county=e.county, name=values["name"],
                        phone=values["phone"], enrolled_at=e.enrolled_at, checked_in_at=att,
                        certificate_id=cert)  # fmt: skip


# ------------------------------------------------------------------ check-in


def checkin_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}{CHECKIN_PAGE}?t={token}"


def issue_code(row: TrainingSession, key: bytes, now: datetime, ttl_s: int) -> tuple[str, int]:
    if row.status != "scheduled":
        raise ApiError(409, f"session {row.id} is {row.status}: no check-in",
                       field="path.session_id")  # fmt: skip
    return tokens.make(key, row.id, now, ttl_s)


async def check_in(
    s: AsyncSession, key: bytes, token: str, phone: str, ring: Keyring, now: datetime
) -> CheckinOut:
    """The trainee's phone checks in with the room's code and its own number.

    Refused, naming ``body.token`` and the reason: malformed or forged (422), expired (410),
    a code this trainee used already (409, replayed), a cancelled session (409). A number
    not enrolled in the code's session: 404 naming ``body.phone``.
    """
    try:
        code = tokens.check(key, token, now)
    except tokens.CodeError as exc:
        status = 410 if exc.reason == "expired" else 422
        raise ApiError(status, f"body.token: {exc.zh}. {exc.en} ({exc.reason})",
                       field="body.token") from None  # fmt: skip
    row = await s.get(TrainingSession, code.session_id)
    if row is None:  # signed by us for a session since deleted
        raise ApiError(422, "body.token: 签到码对应的培训不存在。The code's session does not exist "
                       "(unknown)", field="body.token")  # fmt: skip
    if row.status != "scheduled":
        raise ApiError(409, f"body.token: 本期培训已取消。Session {row.id} is {row.status} "
                       "(cancelled)", field="body.token")  # fmt: skip
    e = await s.scalar(select(Enrolment).where(
        Enrolment.session_id == row.id,
        Enrolment.phone_index.in_(blind_indexes(ring, "phone", phone))))  # fmt: skip
    if e is None:
        raise ApiError(404, "body.phone: 该手机号未报名本期培训。This number is not enrolled in "
                       "the session", field="body.phone")  # fmt: skip
    course = await s.get(Course, row.course_id)
    assert course is not None
    att = await s.scalar(select(Attendance).where(Attendance.enrolment_id == e.id))
    if att is not None:
        if att.nonce == code.nonce:
            raise ApiError(409, "body.token: 该签到码已使用过，请扫描屏幕上的新二维码。This code was "
                           f"used already at {att.checked_in_at.isoformat()} (replayed)",
                           field="body.token")  # fmt: skip
        return CheckinOut(session_id=row.id, course_title_zh=course.title_zh,
                          course_title_en=course.title_en, checked_in_at=att.checked_in_at,
                          already=True)  # fmt: skip
    att = Attendance(enrolment_id=e.id, session_id=row.id, checked_in_at=now, nonce=code.nonce,
                     method="qr")  # fmt: skip
    s.add(att)
    await s.flush()
    await record(s, "public:checkin", "training.checked_in", f"training_enrolment:{e.id}",
                 row.county, {"session_id": row.id})  # fmt: skip
    return CheckinOut(session_id=row.id, course_title_zh=course.title_zh,
                      course_title_en=course.title_en, checked_in_at=now, already=False)  # fmt: skip


async def mark_present(
    s: AsyncSession, row: TrainingSession, enrolment_id: int, principal: Principal
) -> Enrolment:
    """A trainee without a smartphone: the trainer (or an admin) marks the check-in."""
    e = await s.get(Enrolment, enrolment_id)
    if e is None or e.session_id != row.id:
        raise not_found(f"enrolment of session {row.id}", enrolment_id, "body.enrolment_id")
    if row.status != "scheduled":
        raise ApiError(409, f"session {row.id} is {row.status}: no check-in",
                       field="path.session_id")  # fmt: skip
    at = await s.scalar(select(Attendance.checked_in_at).where(Attendance.enrolment_id == e.id))
    if at is not None:
        raise ApiError(409, f"body.enrolment_id: enrolment {e.id} checked in at {at.isoformat()}",
                       field="body.enrolment_id")  # fmt: skip
    s.add(Attendance(enrolment_id=e.id, session_id=row.id, checked_in_at=utcnow(),
                     nonce="manual", method="manual"))  # fmt: skip
    await s.flush()
    await record(s, principal.actor, "training.checked_in", f"training_enrolment:{e.id}",
                 row.county, {"session_id": row.id, "method": "manual"})  # fmt: skip
    return e


# ------------------------------------------------------------------ certificates


def verify_url(base: str, c: Certificate) -> str:
    return f"{base.rstrip('/')}{VERIFY_PAGE}/{c.ref}?c={c.code}"


async def issue_certificate(
    s: AsyncSession, e: Enrolment, principal: Principal, now: datetime | None = None
) -> Certificate:
    if await s.scalar(select(Attendance.id).where(Attendance.enrolment_id == e.id)) is None:
        raise ApiError(409, f"body.enrolment_id: enrolment {e.id} has not checked in: "
                       "no certificate without attendance", field="body.enrolment_id")  # fmt: skip
    if await s.scalar(select(Certificate.id).where(Certificate.enrolment_id == e.id)):
        raise ApiError(409, f"body.enrolment_id: enrolment {e.id} has its certificate already",
                       field="body.enrolment_id")  # fmt: skip
    at = now or utcnow()
    c = Certificate(ref=secrets.token_hex(8), code=secrets.token_urlsafe(12), enrolment_id=e.id,
                    session_id=e.session_id, county=e.county, month=month_of(at), issued_at=at,
                    issued_by=principal.actor)  # fmt: skip
    s.add(c)
    await s.flush()
    await record(s, principal.actor, "training.certificate.issued", f"training_certificate:{c.id}",
                 c.county, {"enrolment_id": e.id, "ref": c.ref})  # fmt: skip
    return c


async def get_enrolment(
    s: AsyncSession, enrolment_id: int, principal: Principal, field: str | None = None
) -> Enrolment:
    e = await s.get(Enrolment, enrolment_id)
    if e is not None:
        row = await s.get(TrainingSession, e.session_id)
        if row is not None and await sees_session(s, principal, row):
            return e
    raise not_found("enrolment", enrolment_id, field)


async def get_certificate(s: AsyncSession, cert_id: int, principal: Principal) -> Certificate:
    c = await s.get(Certificate, cert_id)
    if c is not None:
        row = await s.get(TrainingSession, c.session_id)
        if row is not None and await sees_session(s, principal, row):
            return c
    raise not_found("certificate", cert_id)


async def revoke(s: AsyncSession, c: Certificate, reason: str, principal: Principal) -> Certificate:
    if c.revoked_at is not None:
        raise ApiError(409, f"certificate {c.id} was revoked at {c.revoked_at.isoformat()}")
    c.revoked_at, c.revoked_reason, c.revoked_by = utcnow(), reason, principal.actor
    await s.flush()
    await record(s, principal.actor, "training.certificate.revoked",
                 f"training_certificate:{c.id}", c.county, {"reason": reason})  # fmt: skip
    return c


def certificates_query(principal: Principal, counties: list[str] | None) -> Select[Any]:
    q = select(Certificate)
    if counties is not None:
        q = q.where(Certificate.county.in_(counties))
    if is_trainer(principal):
        q = q.where(Certificate.session_id.in_(
            _scope_sessions(select(TrainingSession.id), principal, counties)))  # fmt: skip
    return q


def certificate_out(c: Certificate, base: str) -> CertificateOut:
    return CertificateOut(id=c.id, ref=c.ref, enrolment_id=c.enrolment_id,
                          session_id=c.session_id, county=c.county, month=c.month,
                          issued_at=c.issued_at, verify_url=verify_url(base, c),
                          revoked_at=c.revoked_at, revoked_reason=c.revoked_reason)  # fmt: skip


def mask_name(name: str) -> str:
    """张三 -> 张*, 欧阳小明 -> 欧**明: the public verification shows no full name."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


async def holder_name(
    s: AsyncSession, e: Enrolment, principal: Principal | None, ring: Keyring
) -> str:
    """The holder's name: revealed (audited) to roles with personal:read; else masked."""
    if principal is not None and policy.sees_personal_data(principal):
        return await reveal(s, ring, e.name_sealed, context=context(e.ref, "name"),
                            actor=principal.actor, county=e.county,
                            target=f"training_enrolment:{e.id}", field="name")  # fmt: skip
    return e.name_masked


async def certificate_pdf_bytes(
    s: AsyncSession, c: Certificate, principal: Principal, ring: Keyring, base: str
) -> bytes:
    e = await s.get(Enrolment, c.enrolment_id)
    row = await s.get(TrainingSession, c.session_id)
    assert e is not None and row is not None
    course = await s.get(Course, row.course_id)
    assert course is not None
    return certificate_pdf(Sheet(
        ref=c.ref, holder=await holder_name(s, e, principal, ring), course_zh=course.title_zh,
        course_en=course.title_en, course_type=course.course_type, hours=course.hours,
        county_zh=COUNTIES[row.county][1], place=row.place, starts_at=row.starts_at,
        ends_at=row.ends_at, issued_at=c.issued_at, verify_url=verify_url(base, c),
        revoked=c.revoked_at is not None,
    ))  # fmt: skip


async def verify(s: AsyncSession, ref: str, code: str | None, ring: Keyring) -> Verification:
    """What a certificate's QR shows. ``unknown``: no such certificate (a forgery with a
    made-up number); ``forged``: a real number with a code we never printed; ``revoked``."""
    import hmac

    c = await s.scalar(select(Certificate).where(Certificate.ref == ref))
    if c is None:
        return Verification(ref=ref, valid=False, reason="unknown")
    if code is None or not hmac.compare_digest(code.encode(), c.code.encode()):
        return Verification(ref=ref, valid=False, reason="forged")
    e = await s.get(Enrolment, c.enrolment_id)
    row = await s.get(TrainingSession, c.session_id)
    assert e is not None and row is not None
    course = await s.get(Course, row.course_id)
    assert course is not None
    revoked = c.revoked_at is not None
    return Verification(
        ref=ref, valid=not revoked, reason="revoked" if revoked else "ok",
        holder=await holder_name(s, e, None, ring), course_title_zh=course.title_zh,
        course_title_en=course.title_en, county=row.county,
        session_date=row.starts_at.astimezone(BEIJING).strftime("%Y-%m-%d"),
        issued_at=c.issued_at, revoked_at=c.revoked_at, revoked_reason=c.revoked_reason,
    )  # fmt: skip


# ------------------------------------------------------------------ totals


async def totals(
    s: AsyncSession,
    principal: Principal | None,
    counties: list[str] | None,
    start_month: str,
    end_month: str,
    group_by: Iterable[str],
) -> list[TotalRow]:
    """Sessions held (not cancelled), trainees enrolled and attended, certificates issued
    (not revoked), by the session's county, course type and Beijing month."""
    keys = [k for k in ("county", "course_type", "month") if k in set(group_by)]
    cols = [getattr(TrainingSession, k) for k in keys]

    def grouped(count: Any, join: Any | None, *where: Any) -> Select[Any]:
        q = select(*cols, count).select_from(TrainingSession if join is None else join)
        q = q.where(
            TrainingSession.status != "cancelled",
            TrainingSession.month >= start_month,
            TrainingSession.month <= end_month,
            *where,
        )
        if principal is not None:
            q = _scope_sessions(q, principal, counties)
        elif counties is not None:
            q = q.where(TrainingSession.county.in_(counties))
        return q.group_by(*cols) if cols else q

    out: dict[tuple[str, ...], dict[str, int]] = {}
    parts = {
        "sessions": grouped(func.count(TrainingSession.id), None),
        "enrolled": grouped(func.count(Enrolment.id),
                            TrainingSession.__table__.join(Enrolment.__table__)),
        "attended": grouped(func.count(Attendance.id),
                            TrainingSession.__table__.join(Attendance.__table__)),
        "certificates": grouped(func.count(Certificate.id),
                                TrainingSession.__table__.join(Certificate.__table__),
                                Certificate.revoked_at.is_(None)),
    }  # fmt: skip
    for name, q in parts.items():
        for r in (await s.execute(q)).all():
            key = tuple(r[: len(keys)])
            if not keys and r[0] == 0:
                continue
            bucket = out.setdefault(
                key, {"sessions": 0, "enrolled": 0, "attended": 0, "certificates": 0}
            )
            bucket[name] = int(r[len(keys)])
    rows = []
    for key in sorted(out):
        fields = dict(zip(keys, key, strict=True))
        rows.append(TotalRow(**fields, **out[key]))
    if not keys and not rows:
        rows.append(TotalRow(sessions=0, enrolled=0, attended=0, certificates=0))
    return rows


async def monthly_figures(
    db_or_session: Database | AsyncSession, county: str, month: str
) -> dict[str, int | str | None]:
    """The training figures of one county (or the prefecture, 533100: all) and one month,
    for the MOFCOM export and the monthly bulletin. Keys: ``training_sessions`` (held, not
    cancelled), ``training_enrolled``, ``training_attended``, ``training_certificates``
    (issued for those sessions, not revoked); all by the session's Beijing month."""
    if county not in COUNTIES:
        raise ValueError(f"county: unknown county code {county!r}")
    if isinstance(db_or_session, Database):
        async with db_or_session.session() as s:
            return await monthly_figures(s, county, month)
    counties = None if county == PREFECTURE else [county]
    (row,) = await totals(db_or_session, None, counties, month, month, ())
    return {
        "county": county,
        "month": month,
        "training_sessions": row.sessions,
        "training_enrolled": row.enrolled,
        "training_attended": row.attended,
        "training_certificates": row.certificates,
    }


# ------------------------------------------------------------------ public calendar


async def public_sessions(
    s: AsyncSession, county: str | None, start: datetime, end: datetime, limit: int = 500
) -> list[PublicSession]:
    q = (
        select(TrainingSession, Course)
        .join(Course, Course.id == TrainingSession.course_id)
        .where(TrainingSession.starts_at >= start, TrainingSession.starts_at < end)
        .order_by(TrainingSession.starts_at, TrainingSession.id)
        .limit(limit)
    )
    if county is not None and county != PREFECTURE:
        q = q.where(TrainingSession.county == county)
    rows = (await s.execute(q)).all()
    ids = [r[0].id for r in rows]
    enrolled: dict[int, int] = {}
    if ids:
        counted = await s.execute(
            select(Enrolment.session_id, func.count())
            .where(Enrolment.session_id.in_(ids))
            .group_by(Enrolment.session_id)
        )
        enrolled = {int(a): int(b) for a, b in counted.all()}
    out = []
    for sess, course in rows:
        zh, en = COURSE_TYPES.get(sess.course_type, (sess.course_type, sess.course_type))
        out.append(PublicSession(
            id=sess.id, county=sess.county, course_title_zh=course.title_zh,
            course_title_en=course.title_en, course_type=sess.course_type, course_type_zh=zh,
            course_type_en=en, hours=course.hours, starts_at=sess.starts_at,
            ends_at=sess.ends_at, place=sess.place, capacity=sess.capacity,
            seats_left=max(0, sess.capacity - enrolled.get(sess.id, 0)), status=sess.status,
        ))  # fmt: skip
    return out


def now_utc() -> datetime:
    return datetime.now(UTC)
