"""``/api/v1/services/training`` (电商学院), its public API ``/api/v1/public/training`` and
its H5 pages ``/h5/training`` (calendar), ``/h5/training/checkin`` (the trainee's phone),
``/h5/training/certificates/{ref}`` (what a certificate's QR opens).

Reads: ``training:read`` (county roles their county; a trainer its own sessions).
Writes: ``training:write`` (sessions, enrolments, check-in codes, certificates; a trainer
for its own sessions), ``training:manage`` (courses, trainers, revoking certificates).
Public routes are rate-limited per client address, carry an ETag (JSON) and no
personal data: no trainee's name or phone, no trainer's login.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.deps import DatabaseDep, KeyringDep, SettingsDep
from cloud.errors import ApiError, Error, responses
from cloud.pagination import Key, PageDep, fetch_page, link_next
from cloud.services.training import service, tokens
from cloud.services.training.schemas import (
    CertificateIn,
    CertificateOut,
    CheckinCode,
    CheckinIn,
    CheckinOut,
    CourseIn,
    CourseOut,
    EnrolmentIn,
    EnrolmentOut,
    GroupKey,
    Month,
    PublicSession,
    RevokeIn,
    SessionIn,
    SessionOut,
    SessionPatch,
    TotalRow,
    TrainerIn,
    TrainerOut,
    Verification,
    normalise_phone,
)
from cloud.services.training.storage import (
    COURSE_TYPES,
    Certificate,
    Course,
    Enrolment,
    Trainer,
    TrainingSession,
)
from cloud.settings import Settings
from cloud.web.etag import cached_json
from cloud.web.qr import qr_svg
from cloud.web.ratelimit import rate_limit
from cloud.web.shell import environment, page_context
from protocol.ids import COUNTIES, COUNTY_CODES, PREFECTURE

router = APIRouter(prefix="/services/training", tags=["training"],
                   responses=responses(401, 403, 404, 409, 422))  # fmt: skip
public = APIRouter(prefix="/public/training", tags=["public training"],
                   dependencies=[Depends(rate_limit)])  # fmt: skip
pages = APIRouter(include_in_schema=False, dependencies=[Depends(rate_limit)])

Read = Annotated[Principal, require("training:read")]
Write = Annotated[Principal, require("training:write")]
Manage = Annotated[Principal, require("training:manage")]
Ident = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
CountyQ = Annotated[str | None, Query(description="one county (GB/T 2260)")]
TEMPLATES = Path(__file__).resolve().parent / "templates"


def signing_key(settings: Settings) -> bytes:
    return tokens.derive_key(settings.jwt_secret.get_secret_value())


def base_url(settings: Settings) -> str:
    return str(settings.public_base_url).rstrip("/")


# ------------------------------------------------------------------ courses


@router.post("/courses", status_code=201, summary="Create a course (county admins)")
async def create_course(body: CourseIn, principal: Manage, db: DatabaseDep) -> CourseOut:
    async with db.transaction() as s:
        row = await service.create_course(s, body, principal)
        return CourseOut.model_validate(row, from_attributes=True)


@router.get("/courses", summary="Courses of the counties you see, by id")
async def list_courses(
    principal: Read, db: DatabaseDep, page: PageDep, request: Request, response: Response,
    county: CountyQ = None,
) -> list[CourseOut]:  # fmt: skip
    q = service.courses_query(principal.counties(county))
    async with db.session() as s:
        got = await fetch_page(s, q, (Key(Course.id, kind=int),), page)
    link_next(request, response, got.next_cursor)
    return [CourseOut.model_validate(x, from_attributes=True) for x in got.rows]


@router.get("/courses/{course_id}", summary="One course")
async def get_course(course_id: Ident, principal: Read, db: DatabaseDep) -> CourseOut:
    async with db.session() as s:
        row = await service.get_course(s, course_id, principal)
        return CourseOut.model_validate(row, from_attributes=True)


# ------------------------------------------------------------------ trainers


@router.post("/trainers", status_code=201, summary="Register a trainer (county admins)")
async def create_trainer(body: TrainerIn, principal: Manage, db: DatabaseDep) -> TrainerOut:
    async with db.transaction() as s:
        row = await service.create_trainer(s, body, principal)
        return TrainerOut.model_validate(row, from_attributes=True)


@router.get("/trainers", summary="Trainers, by id (a trainer: itself)")
async def list_trainers(
    principal: Read, db: DatabaseDep, page: PageDep, request: Request, response: Response,
    county: CountyQ = None,
) -> list[TrainerOut]:  # fmt: skip
    q = service.trainers_query(principal, principal.counties(county))
    async with db.session() as s:
        got = await fetch_page(s, q, (Key(Trainer.id, kind=int),), page)
    link_next(request, response, got.next_cursor)
    return [TrainerOut.model_validate(x, from_attributes=True) for x in got.rows]


@router.get("/trainers/{trainer_id}", summary="One trainer")
async def get_trainer(trainer_id: Ident, principal: Read, db: DatabaseDep) -> TrainerOut:
    async with db.session() as s:
        row = await service.get_trainer(s, trainer_id, principal)
        return TrainerOut.model_validate(row, from_attributes=True)


# ------------------------------------------------------------------ sessions


@router.post("/sessions", status_code=201, summary="Schedule a session (a trainer: its own)")
async def create_session(body: SessionIn, principal: Write, db: DatabaseDep) -> SessionOut:
    async with db.transaction() as s:
        return await service.session_out(s, await service.create_session(s, body, principal))


@router.get("/sessions", summary="Sessions, by id (a trainer: its own)")
async def list_sessions(
    principal: Read, db: DatabaseDep, page: PageDep, request: Request, response: Response,
    county: CountyQ = None, month: Month | None = None,
    course_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> list[SessionOut]:  # fmt: skip
    q = service.sessions_query(principal, principal.counties(county), month, course_id)
    async with db.session() as s:
        got = await fetch_page(s, q, (Key(TrainingSession.id, kind=int),), page)
        out = [await service.session_out(s, x) for x in got.rows]
    link_next(request, response, got.next_cursor)
    return out


@router.get("/sessions/{session_id}", summary="One session")
async def get_session(session_id: Ident, principal: Read, db: DatabaseDep) -> SessionOut:
    async with db.session() as s:
        return await service.session_out(s, await service.get_session(s, session_id, principal))


@router.patch("/sessions/{session_id}", summary="Move, resize or cancel a session")
async def patch_session(
    session_id: Ident, body: SessionPatch, principal: Write, db: DatabaseDep
) -> SessionOut:
    async with db.transaction() as s:
        row = await service.get_session(s, session_id, principal)
        await service.patch_session(s, row, body, principal)
        return await service.session_out(s, row)


@router.post("/sessions/{session_id}/enrolments", status_code=201,
             summary="Enrol a trainee (name and phone are sealed personal data)")  # fmt: skip
async def enrol(
    session_id: Ident, body: EnrolmentIn, principal: Write, db: DatabaseDep, ring: KeyringDep
) -> EnrolmentOut:
    async with db.transaction() as s:
        row = await service.get_session(s, session_id, principal)
        e = await service.enrol(s, row, body, principal, ring)
        return await service.enrolment_out(s, e, principal, ring)


@router.get("/sessions/{session_id}/enrolments",
            summary="A session's trainees (names and phones masked without personal:read)")  # fmt: skip
async def list_enrolments(
    session_id: Ident, principal: Read, db: DatabaseDep, ring: KeyringDep, page: PageDep,
    request: Request, response: Response,
) -> list[EnrolmentOut]:  # fmt: skip
    async with db.transaction() as s:  # a reveal writes its audit entry
        row = await service.get_session(s, session_id, principal)
        got = await fetch_page(s, service.enrolments_query(row.id),
                               (Key(Enrolment.id, kind=int),), page)  # fmt: skip
        out = [await service.enrolment_out(s, e, principal, ring) for e in got.rows]
    link_next(request, response, got.next_cursor)
    return out


@router.post("/sessions/{session_id}/checkin-code",
             summary="A short-lived signed check-in QR for the room's screen")  # fmt: skip
async def checkin_code(
    session_id: Ident, principal: Write, db: DatabaseDep, settings: SettingsDep,
    ttl_s: Annotated[int, Query(ge=30, le=600)] = tokens.DEFAULT_TTL_S,
) -> CheckinCode:  # fmt: skip
    async with db.session() as s:
        row = await service.get_session(s, session_id, principal)
    token, expires = service.issue_code(row, signing_key(settings), service.now_utc(), ttl_s)
    url = service.checkin_url(base_url(settings), token)
    return CheckinCode(
        session_id=row.id, url=url, token=token,
        expires_at=datetime.fromtimestamp(expires, tz=service.BEIJING),
        svg=qr_svg(url, scale=6, title="签到 Check in").decode(),
    )  # fmt: skip


@router.post("/sessions/{session_id}/attendance", status_code=201,
             summary="Mark a trainee present by hand (no smartphone)")  # fmt: skip
async def mark_present(
    session_id: Ident, body: CertificateIn, principal: Write, db: DatabaseDep, ring: KeyringDep
) -> EnrolmentOut:
    async with db.transaction() as s:
        row = await service.get_session(s, session_id, principal)
        e = await service.mark_present(s, row, body.enrolment_id, principal)
        return await service.enrolment_out(s, e, principal, ring)


# ------------------------------------------------------------------ certificates


@router.post("/certificates", status_code=201,
             summary="Issue the certificate of an enrolment that checked in")  # fmt: skip
async def issue_certificate(
    body: CertificateIn, principal: Write, db: DatabaseDep, settings: SettingsDep
) -> CertificateOut:
    async with db.transaction() as s:
        e = await service.get_enrolment(s, body.enrolment_id, principal, "body.enrolment_id")
        c = await service.issue_certificate(s, e, principal)
        return service.certificate_out(c, base_url(settings))


@router.get("/certificates", summary="Certificates, by id (a trainer: of its own sessions)")
async def list_certificates(
    principal: Read, db: DatabaseDep, settings: SettingsDep, page: PageDep, request: Request,
    response: Response, county: CountyQ = None,
) -> list[CertificateOut]:  # fmt: skip
    q = service.certificates_query(principal, principal.counties(county))
    async with db.session() as s:
        got = await fetch_page(s, q, (Key(Certificate.id, kind=int),), page)
    link_next(request, response, got.next_cursor)
    return [service.certificate_out(c, base_url(settings)) for c in got.rows]


@router.get("/certificates/{certificate_id}/pdf", summary="The certificate as PDF (A4)",
            response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})  # fmt: skip
async def certificate_pdf(
    certificate_id: Ident, principal: Read, db: DatabaseDep, settings: SettingsDep,
    ring: KeyringDep,
) -> Response:  # fmt: skip
    async with db.transaction() as s:
        c = await service.get_certificate(s, certificate_id, principal)
        pdf = await service.certificate_pdf_bytes(s, c, principal, ring, base_url(settings))
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="certificate-{c.ref}.pdf"'})  # fmt: skip


@router.post("/certificates/{certificate_id}/revoke", summary="Revoke a certificate (admins)")
async def revoke_certificate(
    certificate_id: Ident, body: RevokeIn, principal: Manage, db: DatabaseDep,
    settings: SettingsDep,
) -> CertificateOut:  # fmt: skip
    async with db.transaction() as s:
        c = await service.get_certificate(s, certificate_id, principal)
        await service.revoke(s, c, body.reason, principal)
        return service.certificate_out(c, base_url(settings))


# ------------------------------------------------------------------ totals


@router.get("/totals", summary="Talent-training figures by county, course type and month")
async def totals(
    principal: Read, db: DatabaseDep, start_month: Month, end_month: Month,
    group_by: Annotated[list[GroupKey], Query()] = ["county", "course_type", "month"],  # noqa: B006
    county: CountyQ = None,
) -> list[TotalRow]:  # fmt: skip
    if end_month < start_month:
        raise ApiError(422, "query.end_month: before start_month", field="query.end_month")
    counties = principal.counties(county)
    async with db.session() as s:
        return await service.totals(s, principal, counties, start_month, end_month, group_by)


# ------------------------------------------------------------------ public API


def _window(
    county: str | None, start: str | None, days: int
) -> tuple[str | None, datetime, datetime]:
    if county is not None and county not in COUNTIES:
        raise ApiError(422, f"query.county: unknown county code {county!r}; use one of "
                       f"{', '.join(COUNTIES)}", field="query.county")  # fmt: skip
    if start is None:
        now = service.now_utc().astimezone(service.BEIJING)
        begin = now.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        try:
            begin = datetime.strptime(start, "%Y-%m-%d").replace(tzinfo=service.BEIJING)
        except ValueError:
            raise ApiError(422, f"query.from: {start!r} is not a day (YYYY-MM-DD)",
                           field="query.from") from None  # fmt: skip
    try:
        return county, begin, begin + timedelta(days=days)
    except OverflowError:
        raise ApiError(422, f"query.from: {start!r} plus {days} days is off the calendar",
                       field="query.from") from None  # fmt: skip


FromQ = Annotated[str | None, Query(alias="from", max_length=10,
                                    description="first day (Beijing), default today")]  # fmt: skip
DaysQ = Annotated[int, Query(ge=1, le=366, description="how many days from it")]


@public.get("/sessions", dependencies=[require("public")],
            summary="The public training calendar (no personal data; ETag)",
            responses={200: {"model": list[PublicSession]}, **responses(422, 429)})  # fmt: skip
async def public_sessions(
    request: Request, db: DatabaseDep, county: CountyQ = None, start: FromQ = None,
    days: DaysQ = 90,
) -> Response:  # fmt: skip
    c, begin, end = _window(county, start, days)
    async with db.session() as s:
        rows = await service.public_sessions(s, c, begin, end)
    return cached_json(request, [r.model_dump(mode="json") for r in rows], max_age=60)


@public.get("/certificates/{ref}", dependencies=[require("public")],
            summary="Verify a certificate: valid, or invalid with the reason (holder masked)",
            responses={200: {"model": Verification}, **responses(429)})  # fmt: skip
async def public_certificate(
    ref: Annotated[str, PathParam(max_length=32)], request: Request, db: DatabaseDep,
    ring: KeyringDep, c: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:  # fmt: skip
    async with db.session() as s:
        v = await service.verify(s, ref, c, ring)
    return cached_json(request, v.model_dump(mode="json"), max_age=60)


@public.post("/checkin", dependencies=[require("public")],
             summary="A trainee's phone checks in with the room's code and its number",
             responses=responses(404, 409, 422, 429) | {410: {"model": Error, "description": "the check-in code expired: show a new one"}})  # fmt: skip
async def public_checkin(
    body: CheckinIn, db: DatabaseDep, settings: SettingsDep, ring: KeyringDep
) -> CheckinOut:
    async with db.transaction() as s:
        return await service.check_in(s, signing_key(settings), body.token, body.phone, ring,
                                      service.now_utc())  # fmt: skip


# ------------------------------------------------------------------ H5 pages


def _render(request: Request, name: str, status: int = 200, **context: object) -> HTMLResponse:
    env = environment(TEMPLATES)
    doc = env.get_template(name).render(
        page_context(request.app.state.settings, counties=COUNTIES, types=COURSE_TYPES, **context)
    )
    return HTMLResponse(doc, status_code=status, headers={"Cache-Control": "no-cache"})


@pages.get("/h5/training", dependencies=[require("public")])
async def calendar_page(
    request: Request, db: DatabaseDep, county: CountyQ = None, start: FromQ = None,
    days: DaysQ = 90,
) -> HTMLResponse:  # fmt: skip
    """The training calendar (the same data as /api/v1/public/training/sessions)."""
    c, begin, end = _window(county if county in COUNTY_CODES else None, start, days)
    async with db.session() as s:
        rows = await service.public_sessions(s, c, begin, end)
    days_of: dict[str, list[PublicSession]] = {}
    for r in rows:
        days_of.setdefault(r.starts_at.astimezone(service.BEIJING).strftime("%Y-%m-%d"),
                           []).append(r)  # fmt: skip
    return _render(request, "calendar.html", days=days_of, county=c, beijing=service.BEIJING,
                   county_codes=COUNTY_CODES, prefecture=PREFECTURE)  # fmt: skip


@pages.get("/h5/training/checkin", dependencies=[require("public")])
async def checkin_page(
    request: Request, t: Annotated[str, Query(max_length=200)] = ""
) -> HTMLResponse:
    """What the room's QR opens on the trainee's phone: type your number, check in."""
    return _render(request, "checkin.html", token=t, result=None, error=None)


@pages.post("/h5/training/checkin", dependencies=[require("public")])
async def checkin_submit(
    request: Request, db: DatabaseDep, settings: SettingsDep, ring: KeyringDep,
    t: Annotated[str, Form(max_length=200)] = "", phone: Annotated[str, Form(max_length=20)] = "",
) -> HTMLResponse:  # fmt: skip
    """The page's form: the same check-in as the JSON API, answered as a page."""
    try:
        number = normalise_phone(phone)
    except ValueError as exc:
        return _render(request, "checkin.html", 422, token=t, result=None,
                       error=f"body.phone: {exc}")  # fmt: skip
    try:
        async with db.transaction() as s:
            out = await service.check_in(s, signing_key(settings), t, number, ring,
                                         service.now_utc())  # fmt: skip
    except ApiError as exc:
        return _render(request, "checkin.html", exc.status_code, token=t, result=None,
                       error=str(exc.detail))  # fmt: skip
    return _render(request, "checkin.html", token="", result=out, error=None,
                   beijing=service.BEIJING)  # fmt: skip


@pages.get("/h5/training/certificates/{ref}", dependencies=[require("public")])
async def verify_page(
    request: Request, db: DatabaseDep, ring: KeyringDep,
    ref: Annotated[str, PathParam(max_length=32)], c: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:  # fmt: skip
    """What a certificate's QR opens: valid (green) or invalid with the reason (red)."""
    async with db.session() as s:
        v = await service.verify(s, ref, c, ring)
    return _render(request, "verify.html", v=v, beijing=service.BEIJING)
