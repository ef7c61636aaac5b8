"""Who sees and writes which logistics records, and the pii keyring of the settings.

County roles (dispatcher, admins, auditor) see their county (the prefecture: all);
organisation roles see only their own organisation's records: a carrier its vehicles,
drivers, trips and the waybills it carries; an operator its supply and the waybills it
ships; a driver the trips it drives (see :mod:`cloud.logistics.waybills.service`).
Another county's record, or another organisation's, is 404: never revealed.
"""

from __future__ import annotations

from cloud.auth import policy
from cloud.auth.principal import Principal
from cloud.errors import ApiError

#: What an organisation role without an organisation is confined to: no record.
NO_ORG = -1


def org_of(principal: Principal) -> int | None:
    """The organisation an organisation role is confined to (:data:`NO_ORG` when it has
    none yet: it sees nothing, and its writes are 403 from ``require_write``); None for
    county roles."""
    if not policy.ROLES[principal.role].org_scoped:
        return None
    if principal.org_id is None or not principal.org_id.isdigit():
        return NO_ORG
    return int(principal.org_id)


def sees(principal: Principal, county: str, *orgs: int | None) -> bool:
    """May ``principal`` see a record of ``county`` that concerns ``orgs``?"""
    if not principal.can_see(county):
        return False
    mine = org_of(principal)
    return mine is None or mine in orgs


def visible(principal: Principal, county: str, what: str, ident: object, *orgs: int | None) -> None:
    if not sees(principal, county, *orgs):
        raise ApiError(404, f"{what} {ident} not found")


def not_found(what: str, ident: object, field: str | None = None) -> ApiError:
    prefix = f"{field}: " if field else ""
    return ApiError(404, f"{prefix}{what} {ident} not found", field=field)
