"""``/api/v1/auth``, ``/api/v1/users`` and ``/api/v1/apikeys``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from cloud.audit.service import record
from cloud.auth import policy, service, throttle
from cloud.auth.deps import require, unauthorized
from cloud.auth.principal import Principal, Role
from cloud.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    Me,
    PasswordChange,
    Token,
    UserCreate,
    UserCreated,
    UserOut,
    UserUpdate,
)
from cloud.auth.storage import ApiKey
from cloud.db.base import utcnow
from cloud.deps import SessionDep, SettingsDep
from cloud.errors import ApiError, responses
from cloud.pagination import PageDep, link_next
from protocol.ids import COUNTIES, PREFECTURE

router = APIRouter()

SelfDep = Annotated[Principal, require("self")]
UsersRead = Annotated[Principal, require("users:read")]
UsersWrite = Annotated[Principal, require("users:write")]
ApiKeysRead = Annotated[Principal, require("apikeys:read")]
ApiKeysWrite = Annotated[Principal, require("apikeys:write")]


@router.post(
    "/auth/token",
    response_model=Token,
    dependencies=[require("public")],
    tags=["auth"],
    summary="Log in (OAuth2 password flow); 429 with Retry-After after repeated failures",
    responses=responses(401, 422, 429),
)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Token:
    address = request.client.host if request.client else "unknown"
    ip, name = throttle.ip_key(address), throttle.user_key(form.username)
    now = utcnow()
    wait = await throttle.retry_after(session, [ip, name], now)
    if wait is not None:
        raise ApiError(
            429,
            "too many failed logins for this account or address; "
            f"retry in {wait} s (or ask an admin to reset the password)",
            headers={"Retry-After": str(wait)},
        )
    try:
        user = await service.authenticate(session, form.username, form.password)
    except service.AuthError as exc:
        await _login_failed(session, settings, form.username, address, str(exc), ip, name)
        raise unauthorized("wrong username or password") from None
    await throttle.succeeded(session, name)
    await session.commit()
    token, ttl = service.issue_token(
        user, settings.jwt_secret.get_secret_value(), settings.jwt_ttl_s
    )
    return Token(access_token=token, expires_in=ttl)


async def _login_failed(
    session: SessionDep,
    settings: SettingsDep,
    username: str,
    address: str,
    reason: str,
    ip: str,
    name: str,
) -> None:
    """Count the failure (per address and username) and audit it, never the password."""
    await session.rollback()  # nothing of the attempt (e.g. a rehash) is kept
    locked = await throttle.failed(
        session,
        {ip: settings.login_max_failures_ip, name: settings.login_max_failures_user},
        throttle.Limits(settings.login_window_s, settings.login_lockout_s),
        utcnow(),
    )
    user = await service.get_user(session, username)
    detail: dict[str, object] = {"reason": reason}
    if locked:
        detail["locked"] = sorted(k.split(":", 1)[0] for k in locked)
    await record(
        session,
        f"ip:{address}",
        "auth.login_failed",
        f"user:{username}",
        user.county if user is not None else PREFECTURE,
        detail,
    )
    await session.commit()


@router.get(
    "/auth/me", response_model=Me, tags=["auth"], summary="Who am I", responses=responses(401)
)
async def me(principal: SelfDep) -> Me:
    return Me(
        kind=principal.kind,
        name=principal.name,
        role=principal.role,
        county=principal.county,
        org_id=principal.org_id,
    )


@router.post(
    "/auth/password",
    status_code=204,
    tags=["auth"],
    summary="Change my password",
    responses=responses(401, 403, 422),
)
async def change_password(body: PasswordChange, principal: SelfDep, session: SessionDep) -> None:
    if principal.kind != "user":
        raise ApiError(403, "API keys have no password; create a new key instead")
    user = await service.get_user(session, principal.name)
    if user is None:
        raise unauthorized("user no longer exists")
    try:
        await service.change_password(
            session, user, body.current_password, body.new_password, actor=principal.actor
        )
    except service.AuthError as exc:
        raise ApiError(403, str(exc), field="body.current_password") from None
    except ValueError as exc:
        raise ApiError(422, str(exc), field="body.new_password") from None
    await session.commit()


def _check_county_input(county: str) -> None:
    if county not in COUNTIES:
        raise ApiError(
            422,
            f"unknown county code {county!r}; use one of {', '.join(COUNTIES)}",
            field="body.county",
        )


@router.get(
    "/users",
    response_model=list[UserOut],
    tags=["users"],
    summary="List users (admins, auditors; own county; keyset pages: Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_users(
    principal: UsersRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: str | None = None,
) -> list[UserOut]:
    found = await service.list_users(session, principal.counties(county), page)
    link_next(request, response, found.next_cursor)
    out = [UserOut.model_validate(u) for u in found.rows]
    for u in out:  # personal data: masked for roles without personal:read (auditors)
        u.display_name = policy.mask(principal, u.display_name)
    return out


@router.post(
    "/users",
    response_model=UserCreated,
    status_code=201,
    tags=["users"],
    summary="Create a user (admins; own county)",
    responses=responses(401, 403, 409, 422),
)
async def create_user(body: UserCreate, principal: UsersWrite, session: SessionDep) -> UserCreated:
    _check_county_input(body.county)
    principal.require_write(body.county)
    generated = body.password is None
    password = service.generate_password() if body.password is None else body.password
    if await service.get_user(session, body.username) is not None:
        raise ApiError(409, f"username {body.username!r} is taken", field="body.username")
    try:
        user = await service.create_user(
            session,
            username=body.username,
            password=password,
            role=body.role,
            county=body.county,
            display_name=body.display_name,
            org_id=body.org_id,
            actor=principal.actor,
        )
    except ValueError as exc:
        raise ApiError(422, str(exc), field="body") from None
    await session.commit()
    return UserCreated(user=UserOut.model_validate(user), password=password if generated else None)


@router.patch(
    "/users/{username}",
    response_model=UserOut,
    tags=["users"],
    summary="Change a user's name, role, organisation or disabled flag (admins; own county)",
    responses=responses(401, 403, 404, 422),
)
async def update_user(
    username: str, body: UserUpdate, principal: UsersWrite, session: SessionDep
) -> UserOut:
    user = await service.get_user(session, username)
    if user is None:
        raise ApiError(404, f"user {username!r} not found")
    principal.visible(user.county, "user", username)
    principal.require_write(user.county)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("role") is not None:
        changes["role"] = Role(changes["role"]).value
    for key in ("display_name", "role", "disabled"):
        if key in changes and changes[key] is None:
            raise ApiError(422, f"{key}: may not be null", field=f"body.{key}")
    try:
        await service.update_user(session, user, changes=changes, actor=principal.actor)
    except ValueError as exc:
        raise ApiError(422, str(exc), field="body") from None
    await session.commit()
    out = UserOut.model_validate(user)
    out.display_name = policy.mask(principal, out.display_name)
    return out


@router.get(
    "/apikeys",
    response_model=list[ApiKeyOut],
    tags=["apikeys"],
    summary="List API keys (admins, auditors; own county; keyset pages: Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_api_keys(
    principal: ApiKeysRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: str | None = None,
) -> list[ApiKey]:
    found = await service.list_api_keys(session, principal.counties(county), page)
    link_next(request, response, found.next_cursor)
    return found.rows


@router.post(
    "/apikeys",
    response_model=ApiKeyCreated,
    status_code=201,
    tags=["apikeys"],
    summary="Create an API key (admins; own county); the key is shown once",
    responses=responses(401, 403, 422),
)
async def create_api_key(
    body: ApiKeyCreate, principal: ApiKeysWrite, session: SessionDep
) -> ApiKeyCreated:
    _check_county_input(body.county)
    principal.require_write(body.county)
    try:
        new = await service.create_api_key(
            session,
            name=body.name,
            role=body.role,
            county=body.county,
            org_id=body.org_id,
            actor=principal.actor,
        )
    except ValueError as exc:
        raise ApiError(422, str(exc), field="body") from None
    await session.commit()
    return ApiKeyCreated(api_key=ApiKeyOut.model_validate(new.row), key=new.key)


@router.delete(
    "/apikeys/{key_id}",
    response_model=ApiKeyOut,
    tags=["apikeys"],
    summary="Revoke an API key (admins; own county)",
    responses=responses(401, 403, 404),
)
async def revoke_api_key(key_id: str, principal: ApiKeysWrite, session: SessionDep) -> ApiKey:
    row = (await session.execute(select(ApiKey).where(ApiKey.id == key_id))).scalar_one_or_none()
    if row is None:
        raise ApiError(404, f"API key {key_id!r} not found")
    principal.visible(row.county, "API key", key_id)
    await service.revoke_api_key(session, row, actor=principal.actor)
    await session.commit()
    return row
