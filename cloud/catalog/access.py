"""What every catalog route checks: the record exists and is of a county the principal
sees (else 404, as if it did not exist), and how catalog errors become API errors."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth import policy
from cloud.auth.principal import Principal
from cloud.catalog.errors import CatalogError
from cloud.catalog.storage import (
    CommodityProfile,
    Location,
    Organisation,
    Product,
    ProductionBase,
)
from cloud.errors import ApiError
from protocol.ids import PREFECTURE

T = TypeVar("T", Organisation, ProductionBase, Location, Product)


def api_error(exc: CatalogError) -> ApiError:
    return ApiError(exc.status, str(exc), field=exc.field)


async def visible(
    s: AsyncSession, principal: Principal, table: type[T], ident: int, what: str, field: str
) -> T:
    """The record, or 404 when it does not exist or is of a county the principal cannot see."""
    row = await s.get(table, ident)
    if row is None or not principal.can_see(row.county):
        raise ApiError(404, f"{what} {ident} not found", field=field)
    return row


async def visible_profile(
    s: AsyncSession, principal: Principal, ident: int, field: str
) -> CommodityProfile:
    """A profile of the prefecture (every county's) or of a county the principal sees."""
    row = await s.get(CommodityProfile, ident)
    if row is None or not (row.county == PREFECTURE or principal.can_see(row.county)):
        raise ApiError(404, f"commodity profile {ident} not found", field=field)
    return row


def own_org(principal: Principal) -> int | None:
    """The organisation an organisation role acts for (None: a county role). An id that
    is not a catalog organisation's matches none (-1)."""
    if not policy.ROLES[principal.role].org_scoped:
        return None
    org = principal.org_id
    return int(org) if org is not None and org.isdigit() else -1


def check_county(given: str | None, org: Organisation, field: str = "body.county") -> None:
    """A record of an organisation is of the organisation's county."""
    if given is not None and given != org.county:
        raise ApiError(
            422,
            f"organisation {org.id} is of county {org.county}, not {given}; its records are "
            "its county's (leave county out)",
            field=field,
        )


def masked(principal: Principal, value: str | None) -> str | None:
    """A personal field as this principal may read it (policy.mask)."""
    return policy.mask(principal, value) if value else value
