"""Who is asking: roles, the :class:`Principal`, and the county rule every router applies.

The rule: a principal of the prefecture (533100: a prefecture admin, or an
auditor, display or officer homed there) sees every county; everyone else sees
only their own. What each role may do at all is the role table's
(:mod:`cloud.auth.policy`). Another county's record is **404** on reads (its existence is not
revealed); a write by a role that may not write is **403**; no credentials is
**401** with ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cloud.auth import policy
from cloud.auth.policy import Role
from cloud.errors import ApiError
from protocol.ids import COUNTIES, PREFECTURE

__all__ = ["Principal", "Role", "check_role_county"]


def check_role_county(role: Role, county: str, org_id: str | None = None) -> None:
    """ValueError unless the role may belong to this county (the role table's home)."""
    policy.check_role_home(role, county, org_id)


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["user", "apikey", "gateway"]
    name: str
    role: Role
    county: str
    #: The organisation of an org-scoped role (docs/roles.md); None for the others.
    org_id: str | None = None
    #: A platform's key: the shops granted to it (cloud/services/registry); None otherwise.
    shops: frozenset[int] | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this principal: ``user:alice``, ``apikey:3f2a...``."""
        return f"{self.kind}:{self.name}"

    @property
    def is_prefecture(self) -> bool:
        """Reads every county (its home is the prefecture, 533100)."""
        return self.county == PREFECTURE

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

    def require_write(self, county: str, org_id: str | None = None) -> None:
        """403 unless this principal may write in ``county`` (and ``org_id``)."""
        policy.check_write_scope(self, county, org_id)

    def require_gateway(self, gateway_id: str) -> None:
        """403 when a gateway acts for another gateway (other roles pass)."""
        policy.check_own_gateway(self, gateway_id)
