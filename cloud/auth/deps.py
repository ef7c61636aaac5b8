"""The ``Principal`` dependency: a bearer token (users) or ``X-API-Key`` (integrations)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from cloud.auth.principal import Principal
from cloud.auth.service import AuthError, principal_from_api_key, principal_from_token
from cloud.deps import SessionDep, SettingsDep
from cloud.errors import ApiError

TOKEN_URL = "/api/v1/auth/token"

oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


def unauthorized(reason: str) -> ApiError:
    return ApiError(
        401,
        f"not authenticated: {reason}",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def current_principal(
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    try:
        if api_key:
            return await principal_from_api_key(session, api_key)
        if token:
            return await principal_from_token(
                session, token, settings.jwt_secret.get_secret_value()
            )
    except AuthError as exc:
        raise unauthorized(str(exc)) from None
    raise unauthorized(
        f"send 'Authorization: Bearer <token>' (get one at {TOKEN_URL}) or 'X-API-Key'"
    )


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def current_admin(principal: PrincipalDep) -> Principal:
    principal.require_admin()
    return principal


AdminDep = Annotated[Principal, Depends(current_admin)]
