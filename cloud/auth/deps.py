"""The ``Principal`` dependency: a bearer token (users), ``X-API-Key`` (integrations)
or HTTP Basic with a gateway's id and broker password (gateways, verified by the
checker the app installs as ``app.state.gateway_credentials``: the gateways' table is
a floor above this one), and ``require(permission)``, which every route declares (the role table is
:mod:`cloud.auth.policy`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBasic, HTTPBasicCredentials, OAuth2PasswordBearer

from cloud.auth import policy
from cloud.auth.principal import Principal
from cloud.auth.service import AuthError, principal_from_api_key, principal_from_token
from cloud.deps import SessionDep, SettingsDep
from cloud.errors import ApiError

TOKEN_URL = "/api/v1/auth/token"

oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)
gateway_scheme = HTTPBasic(
    auto_error=False, description="a gateway: its id and broker (MQTT) password"
)


def unauthorized(reason: str) -> ApiError:
    return ApiError(
        401,
        f"not authenticated: {reason}",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def current_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
    gateway: Annotated[HTTPBasicCredentials | None, Depends(gateway_scheme)],
) -> Principal:
    try:
        if api_key:
            return await principal_from_api_key(session, api_key)
        if gateway is not None:
            check = getattr(request.app.state, "gateway_credentials", None)
            if check is None:
                raise AuthError("gateway credentials are not accepted by this app")
            return await check(session, gateway.username, gateway.password)
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


async def _public() -> None:
    """A public route: no credentials are read."""


def require(permission: str, *alternatives: str) -> Any:
    """The dependency a route declares: ``Annotated[Principal, require("gateways:read")]``
    (or ``dependencies=[require("public")]`` on a public route).

    Authenticates (401) and checks the role table (403); the permission is kept on the
    dependency (``.permission``) so tests can list every route's permission.

    ``alternatives``: a route that two kinds of role write, each under its own
    permission (``require("catalog:write", "org_records:write")``: admins of the county,
    and organisation roles for their own organisation), admits a role with either; its
    ``.permission`` is ``catalog:write|org_records:write``, and the route checks the
    scope (``Principal.require_write``) as always.
    """
    names = (permission, *alternatives)
    for name in names:
        if name not in policy.PERMISSIONS:
            raise ValueError(f"unknown permission {name!r}; add it to cloud.auth.policy")
    if permission == "public":
        if alternatives:
            raise ValueError("a public route has no alternative permissions")
        _public.permission = "public"  # type: ignore[attr-defined]
        return Depends(_public)
    if "public" in alternatives:
        raise ValueError("'public' cannot be an alternative: declare the route public")
    declared = policy.ALTERNATIVES.join(names)

    async def check(principal: PrincipalDep) -> Principal:
        policy.authorize(principal, declared)
        return principal

    check.permission = declared  # type: ignore[attr-defined]
    check.__name__ = "require_" + "_or_".join(n.replace(":", "_") for n in names)
    return Depends(check)


def permission_of(dependant: Any) -> str | None:
    """The permission a route (its ``route.dependant``) declares, if any."""
    for dep in dependant.dependencies:
        found = getattr(dep.call, "permission", None) or permission_of(dep)
        if found:
            return str(found)
    return None


#: Administrators of a county (prefecture and county admins): ``require("users:write")``
#: and friends say more; kept for routes that predate the role table.
AdminDep = Annotated[Principal, require("users:write")]
