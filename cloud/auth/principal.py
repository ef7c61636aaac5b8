"""Who is asking: roles, the :class:`Principal`, and the county rule every router applies.

The rule: a prefecture admin sees every county; everyone else sees only their
own. Another county's record is **404** on reads (its existence is not
revealed); a write by a role that may not write is **403**; no credentials is
**401** with ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from cloud.errors import ApiError
from protocol.ids import COUNTIES, COUNTY_CODES, PREFECTURE


class Role(StrEnum):
    PREFECTURE_ADMIN = "prefecture_admin"
    COUNTY_ADMIN = "county_admin"
    OPERATOR = "operator"
    DISPATCHER = "dispatcher"


ADMIN_ROLES = frozenset({Role.PREFECTURE_ADMIN, Role.COUNTY_ADMIN})


def check_role_county(role: Role, county: str) -> None:
    """A prefecture admin belongs to 533100; every other role to one of the four counties."""
    if county not in COUNTIES:
        raise ValueError(
            f"unknown county code {county!r}; use a GB/T 2260 code: {', '.join(COUNTIES)}"
        )
    if role is Role.PREFECTURE_ADMIN and county != PREFECTURE:
        raise ValueError(f"a prefecture_admin belongs to county {PREFECTURE}, not {county}")
    if role is not Role.PREFECTURE_ADMIN and county not in COUNTY_CODES:
        raise ValueError(
            f"a {role.value} belongs to one county ({', '.join(COUNTY_CODES)}), not {county}"
        )


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["user", "apikey"]
    name: str
    role: Role
    county: str
    #: The organisation of an org-scoped role (docs/roles.md); None for the others.
    org_id: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this principal: ``user:alice``, ``apikey:3f2a...``."""
        return f"{self.kind}:{self.name}"

    @property
    def is_prefecture(self) -> bool:
        return self.role is Role.PREFECTURE_ADMIN

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES

    def can_see(self, county: str) -> bool:
        return self.is_prefecture or county == self.county

    # ------------------------------------------------------- router helpers

    def visible(self, county: str, what: str, ident: str) -> None:
        """Raise 404 for a record of a county this principal cannot see."""
        if not self.can_see(county):
            raise ApiError(404, f"{what} {ident!r} not found")

    def counties(self, requested: str | None = None) -> list[str] | None:
        """The counties a list query covers: ``None`` means all (prefecture admins).

        ``requested`` is the optional ``?county=`` filter: validated (422) and
        refused (403) when it is a county this principal cannot see.
        """
        if requested is not None:
            if requested not in COUNTIES:
                raise ApiError(
                    422,
                    f"unknown county code {requested!r}; use one of {', '.join(COUNTIES)}",
                    field="query.county",
                )
            if not self.can_see(requested):
                raise ApiError(403, f"you may only see county {self.county}, not {requested}")
            return None if requested == PREFECTURE else [requested]
        return None if self.is_prefecture else [self.county]

    def require_admin(self, county: str | None = None) -> None:
        """403 unless this principal administers ``county`` (or any county, if None)."""
        if not self.is_admin:
            raise ApiError(403, f"role {self.role.value} may not do this; an admin role is needed")
        if county is not None and not self.can_see(county):
            raise ApiError(
                403, f"a county_admin of {self.county} may not administer county {county}"
            )
