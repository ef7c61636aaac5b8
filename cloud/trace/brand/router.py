"""德宏品牌 routes: a lot's brand (each rule's state with its evidence, the decision,
the history), the rules in force, a new version of them, and the sweep.

- ``GET /api/v1/trace/lots/{gtin}/{lot}/brand`` (``trace:read``): evaluates the lot now
  and records a decision when the outcome flipped (how an expiry is noticed:
  :mod:`cloud.trace.brand.service`).
- ``GET /api/v1/trace/brand/rules`` (``trace:read``): the rule set in force.
- ``PUT /api/v1/trace/brand/rules`` (``trace:write``, prefecture roles: the brand is the
  prefecture's): a new version; 422 names the rule and field (``body.rules[2].days``).
  Audited.
- ``POST /api/v1/trace/brand/sweep`` (``trace:write``): re-evaluates every lot holding
  the brand in the counties one writes (organisation roles: their organisation's lots),
  for a daily job; answers how many were looked at and how many decisions it recorded.
  Audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from cloud.audit.service import record
from cloud.auth import policy
from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.deps import DatabaseDep, SessionDep
from cloud.errors import ApiError, responses
from cloud.trace.brand import service
from cloud.trace.brand.rules import RulesError, rule_json
from cloud.trace.brand.storage import BrandDecision
from cloud.trace.lotref import GtinPath, LotPath, lot_or_404

router = APIRouter(tags=["trace: brand"])

TraceRead = Annotated[Principal, require("trace:read")]
TraceWrite = Annotated[Principal, require("trace:write")]


class RuleStateOut(BaseModel):
    index: int
    rule: dict[str, Any]
    #: met, not_met, unknown (no evidence yet: never counts as met), not_applicable
    state: str
    detail: str
    evidence: dict[str, Any]


class DecisionOut(BaseModel):
    id: int
    granted: bool
    reason: str
    trigger: str
    ruleset_version: int
    decided_at: datetime


class BrandOut(BaseModel):
    gtin: str
    lot: str
    brand: str = "德宏品牌"
    granted: bool
    evaluated_at: datetime
    ruleset_version: int
    rules: list[RuleStateOut]
    #: the lot's latest decision (recorded by this request when the outcome flipped)
    decision: DecisionOut | None
    #: decisions, newest first (at most 100)
    history: list[DecisionOut]


class RulesOut(BaseModel):
    version: int
    rules: list[dict[str, Any]]
    note: str | None
    created_at: datetime
    created_by: str


class RulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Any] = Field(description="The rules (see cloud/trace/brand/rules.py)")
    note: str | None = Field(default=None, max_length=500)


class SweepOut(BaseModel):
    looked_at: int
    decisions: int


def decision_out(d: BrandDecision) -> DecisionOut:
    return DecisionOut(
        id=d.id, granted=d.granted, reason=d.reason, trigger=d.trigger,
        ruleset_version=d.ruleset_version, decided_at=d.decided_at,
    )  # fmt: skip


@router.get(
    "/trace/lots/{gtin}/{lot}/brand",
    response_model=BrandOut,
    summary="Whether the lot carries the 德宏品牌 now: each rule's state (met, not met, "
    "unknown, not applicable) with its evidence, and the decision history",
    responses=responses(401, 404, 422),
)
async def lot_brand(
    gtin: GtinPath, lot: LotPath, principal: TraceRead, db: DatabaseDep
) -> BrandOut:
    async with db.transaction() as s:
        found = await lot_or_404(s, gtin, lot, principal)
        evaluation, _ = await service.decide(s, found, "read")
        past = await service.history(s, found.id)
        return BrandOut(
            gtin=found.gtin,
            lot=found.lot,
            granted=evaluation.granted,
            evaluated_at=evaluation.at,
            ruleset_version=evaluation.ruleset_version,
            rules=[RuleStateOut(**st.as_json()) for st in evaluation.states],
            decision=decision_out(past[0]) if past else None,
            history=[decision_out(d) for d in past],
        )


def rules_out(r: service.Ruleset) -> RulesOut:
    return RulesOut(
        version=r.version, rules=[rule_json(x) for x in r.rules], note=r.note,
        created_at=r.created_at, created_by=r.created_by,
    )  # fmt: skip


@router.get(
    "/trace/brand/rules",
    response_model=RulesOut,
    summary="The 德宏品牌 admission rules in force",
    responses=responses(401, 403),
)
async def get_rules(principal: TraceRead, session: SessionDep) -> RulesOut:
    return rules_out(await service.current_rules(session))


@router.put(
    "/trace/brand/rules",
    response_model=RulesOut,
    summary="A new version of the admission rules (prefecture roles); lots are re-evaluated "
    "as they are read, and by the sweep",
    responses=responses(401, 403, 422),
)
async def put_rules(body: RulesIn, principal: TraceWrite, db: DatabaseDep) -> RulesOut:
    try:
        async with db.transaction() as s:
            return rules_out(await service.set_rules(s, body.rules, body.note, principal))
    except RulesError as exc:
        raise ApiError(422, f"body.{exc.field}: {exc.reason}", field=f"body.{exc.field}") from None


@router.post(
    "/trace/brand/sweep",
    response_model=SweepOut,
    summary="Re-evaluate every lot holding the brand in your counties (organisation roles: "
    "their organisation's lots); for a daily job",
    responses=responses(401, 403),
)
async def sweep(principal: TraceWrite, db: DatabaseDep) -> SweepOut:
    org_id: int | None = None
    if policy.ROLES[principal.role].org_scoped:
        if principal.org_id is None:
            raise ApiError(
                403,
                f"this {principal.role.value} belongs to no organisation; an admin must set "
                "its org_id first",
            )
        org_id = int(principal.org_id) if principal.org_id.isdigit() else -1
    async with db.transaction() as s:
        looked, decided = await service.sweep(s, principal.counties(), org_id)
        await record(
            s, principal.actor, "brand.swept", "brand", principal.county,
            {"looked_at": looked, "decisions": decided, "org_id": org_id},
        )  # fmt: skip
    return SweepOut(looked_at=looked, decisions=decided)
