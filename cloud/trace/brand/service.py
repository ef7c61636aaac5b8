"""Brand admission: the rule set in force, each lot's evaluation, and the decisions.

**When a lot is evaluated, and how a change is noticed.** The brand depends on time
(certificates expire, a test falls out of its window) as well as on records, so:

- every read of a lot's brand (``GET .../brand``) evaluates it *now*; when the outcome
  differs from the lot's last decision (or it has none), a decision is recorded in
  that same request (trigger ``read``). An expired certificate is noticed this way, at
  the first read after it expired;
- a write that may change the outcome re-evaluates at once the lots it touches that
  have been evaluated before (have a decision): events stored (trigger ``event``:
  test results, transformations, error declarations), a certificate registered or a
  合格证 issued (``certificate``);
- :func:`sweep` (``POST /api/v1/trace/brand/sweep``, for a daily job) re-evaluates
  every lot currently holding the brand, so that an expiry is recorded even for a lot
  nobody reads.

Decisions are append-only: a row only when the granted state flips (or the first
evaluation), with every rule's state and the reason. The rule set is versioned: a
change is a new version; decisions name the version they were made under.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth.principal import Principal
from cloud.db import utcnow
from cloud.trace.brand.evaluate import Evaluation, LotFacts, evaluate
from cloud.trace.brand.rules import Rule, check_rules, parse_rules, rule_json
from cloud.trace.brand.storage import BrandDecision, BrandRuleset
from cloud.trace.certificates import commitment
from cloud.trace.events.objects import named_objects
from cloud.trace.events.service import StoredEvent
from cloud.trace.lots.service import key_chunks, key_in
from cloud.trace.lots.storage import TraceLot
from protocol.ids import PREFECTURE

#: decisions shown with a lot's brand, newest first
HISTORY_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Ruleset:
    version: int
    rules: list[Rule]
    note: str | None
    created_at: datetime
    created_by: str


async def current_rules(session: AsyncSession) -> Ruleset:
    row = await session.scalar(select(BrandRuleset).order_by(BrandRuleset.version.desc()).limit(1))
    if row is None:  # migration 0432 seeds version 1
        raise RuntimeError("no brand rule set: run the migrations (dehong cloud init-db)")
    return Ruleset(row.version, parse_rules(row.rules), row.note, row.created_at, row.created_by)


async def set_rules(
    session: AsyncSession, raw: Any, note: str | None, principal: Principal
) -> Ruleset:
    """A new version of the rules (prefecture roles; audited ``brand.rules_set``).
    RulesError names a bad field (checked first: a bad rule set is 422 for anyone)."""
    rules = check_rules(raw)
    principal.require_write(PREFECTURE)
    latest = await session.scalar(select(func.max(BrandRuleset.version))) or 0
    row = BrandRuleset(
        version=latest + 1,
        rules=[rule_json(r) for r in rules],
        note=note,
        created_at=utcnow(),
        created_by=principal.actor,
    )
    session.add(row)
    await session.flush()
    await record(
        session, principal.actor, "brand.rules_set", f"brand_rules:{row.version}", PREFECTURE,
        {"version": row.version, "rules": row.rules},
    )  # fmt: skip
    return Ruleset(row.version, rules, note, row.created_at, row.created_by)


async def facts_of(session: AsyncSession, lot: TraceLot) -> LotFacts:
    need = await commitment.requirement(session, lot)
    return LotFacts(lot, need.category, need.derived)


async def last_decision(session: AsyncSession, lot_id: int) -> BrandDecision | None:
    return await session.scalar(
        select(BrandDecision)
        .where(BrandDecision.lot_id == lot_id)
        .order_by(BrandDecision.id.desc())
        .limit(1)
    )


async def history(session: AsyncSession, lot_id: int) -> list[BrandDecision]:
    q = (
        select(BrandDecision)
        .where(BrandDecision.lot_id == lot_id)
        .order_by(BrandDecision.id.desc())
        .limit(HISTORY_LIMIT)
    )
    return list(await session.scalars(q))


async def decide(
    session: AsyncSession,
    lot: TraceLot,
    trigger: str,
    *,
    at: datetime | None = None,
    rules: Ruleset | None = None,
) -> tuple[Evaluation, BrandDecision | None]:
    """Evaluate ``lot`` now and record a decision when the outcome flipped (or there
    was none): (the evaluation, the decision recorded or None). The caller commits.

    On PostgreSQL the lot's row is locked first, so that two requests noticing the
    same flip record it once."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(select(TraceLot.id).where(TraceLot.id == lot.id).with_for_update())
    rules = rules or await current_rules(session)
    evaluation = await evaluate(
        session, await facts_of(session, lot), rules.rules, rules.version, at or utcnow()
    )
    previous = await last_decision(session, lot.id)
    if previous is not None and previous.granted == evaluation.granted:
        return evaluation, None
    decision = BrandDecision(
        lot_id=lot.id,
        county=lot.county,
        granted=evaluation.granted,
        ruleset_version=evaluation.ruleset_version,
        states=[s.as_json() for s in evaluation.states],
        reason=evaluation.reason,
        trigger=trigger,
        decided_at=evaluation.at,
    )
    session.add(decision)
    await session.flush()
    return evaluation, decision


async def _evaluated(session: AsyncSession, lots: Iterable[TraceLot]) -> list[TraceLot]:
    """The lots among ``lots`` that have a decision (were evaluated before)."""
    by_id = {lot.id: lot for lot in lots}
    if not by_id:
        return []
    have = set(
        await session.scalars(
            select(BrandDecision.lot_id).where(BrandDecision.lot_id.in_(by_id)).distinct()
        )
    )
    return [by_id[i] for i in sorted(have)]


async def reevaluate(session: AsyncSession, lots: Iterable[TraceLot], trigger: str) -> int:
    """Re-evaluate the lots that were evaluated before; how many decisions flipped."""
    evaluated = await _evaluated(session, lots)
    if not evaluated:
        return 0
    rules = await current_rules(session)
    flips = 0
    for lot in evaluated:
        _, decision = await decide(session, lot, trigger, rules=rules)
        flips += decision is not None
    return flips


async def reevaluate_matching(session: AsyncSession, lots: Select[Any], trigger: str) -> int:
    """Re-evaluate the lots ``lots`` selects that were evaluated before (filtered in the
    database: a certificate may cover thousands of lots, few of them evaluated)."""
    evaluated = lots.where(TraceLot.id.in_(select(BrandDecision.lot_id)))
    return await reevaluate(session, list(await session.scalars(evaluated)), trigger)


async def events_stored(
    session: AsyncSession, stored: Sequence[StoredEvent], context: list[Any] | None
) -> None:
    """After events are stored: re-evaluate the evaluated lots they name."""
    keys = {
        (o.gtin, o.lot)
        for s in stored
        for o in named_objects(s.body)
        if o.gtin is not None and o.lot is not None
    }
    if not keys:
        return
    lots: list[TraceLot] = []
    for chunk in key_chunks(session, sorted(keys)):
        candidates = (
            select(TraceLot)
            .where(key_in(session, chunk))
            .where(TraceLot.id.in_(select(BrandDecision.lot_id)))
        )
        lots.extend(await session.scalars(candidates))
    await reevaluate(session, lots, "event")


async def sweep(
    session: AsyncSession, counties: list[str] | None, org_id: int | None = None
) -> tuple[int, int]:
    """Re-evaluate every lot of ``counties`` (None: all; ``org_id``: only that
    organisation's) whose last decision granted the brand: (lots looked at, decisions
    recorded)."""
    latest = (
        select(BrandDecision.lot_id, func.max(BrandDecision.id).label("last"))
        .group_by(BrandDecision.lot_id)
        .subquery()
    )
    q = (
        select(TraceLot)
        .join(latest, latest.c.lot_id == TraceLot.id)
        .join(BrandDecision, BrandDecision.id == latest.c.last)
        .where(BrandDecision.granted.is_(True))
        .order_by(TraceLot.id)
    )
    if counties is not None:
        q = q.where(TraceLot.county.in_(counties))
    if org_id is not None:
        q = q.where(TraceLot.org_id == org_id)
    lots = list(await session.scalars(q))
    if not lots:
        return 0, 0
    rules = await current_rules(session)
    flips = 0
    for lot in lots:
        _, decision = await decide(session, lot, "sweep", rules=rules)
        flips += decision is not None
    return len(lots), flips
