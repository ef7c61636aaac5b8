"""Evaluate each admission rule for one lot at one time: ``met``, ``not_met``,
``unknown`` (the evidence the rule needs does not exist yet) or ``not_applicable`` (the
rule names other product categories), with a sentence and the evidence it rests on.

A lot is granted the brand only when every rule is met or not applicable: ``unknown``
never counts as met.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from cloud.trace.brand.rules import (
    COLD_PLACE_KINDS,
    CameraGradeRule,
    CertificateRule,
    ColdChainRule,
    CommitmentRule,
    Rule,
    TestPassedRule,
    rule_json,
)
from cloud.trace.certificates import commitment
from cloud.trace.certificates.kinds import TYPE_NAMES, beijing_date
from cloud.trace.certificates.service import covering
from cloud.trace.custody.service import custody_of
from cloud.trace.lots.storage import TraceLot
from cloud.trace.results.service import inspections_of, results_of

State = Literal["met", "not_met", "unknown", "not_applicable"]


@dataclass(frozen=True, slots=True)
class RuleState:
    index: int
    rule: dict[str, Any]
    state: State
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "rule": self.rule,
            "state": self.state,
            "detail": self.detail,
            "evidence": self.evidence,
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    at: datetime
    ruleset_version: int
    states: list[RuleState]

    @property
    def granted(self) -> bool:
        return all(s.state in ("met", "not_applicable") for s in self.states)

    @property
    def reason(self) -> str:
        failing = [s for s in self.states if s.state in ("not_met", "unknown")]
        if not failing:
            return "every rule met"
        return "; ".join(
            f"rule {s.index} ({s.rule['kind']}) {s.state}: {s.detail}" for s in failing
        )


@dataclass(slots=True)
class LotFacts:
    """What the rules look at, gathered once per evaluation."""

    lot: TraceLot
    category: str | None
    derived: bool


async def _certificate(
    session: AsyncSession, facts: LotFacts, rule: CertificateRule, at: datetime
) -> tuple[State, str, dict[str, Any]]:
    wanted = set(rule.type)
    names = "/".join(TYPE_NAMES[t][0] for t in rule.type)
    mine = [c for c in (await covering(session, [facts.lot]))[facts.lot.id]
            if c.certificate.type in wanted]  # fmt: skip
    valid = [c for c in mine if c.valid_at(at)]

    def show(c: Any) -> dict[str, Any]:
        cert = c.certificate
        return {"id": cert.id, "type": cert.type, "number": cert.number,
                "valid_from": cert.valid_from.isoformat(), "valid_to": cert.valid_to.isoformat()}  # fmt: skip

    if valid:
        best = max(valid, key=lambda c: c.certificate.valid_to)
        return (
            "met",
            f"{TYPE_NAMES[best.certificate.type][0]} certificate {best.certificate.number} "
            f"valid until {best.certificate.valid_to}",
            {"certificates": [show(c) for c in valid]},
        )
    if mine:
        latest = max(mine, key=lambda c: c.certificate.valid_to)
        cert = latest.certificate
        when = (
            f"expired on {cert.valid_to}"
            if cert.valid_to < beijing_date(at)
            else f"valid only from {cert.valid_from}"
        )
        return (
            "not_met",
            f"certificate {cert.number} ({TYPE_NAMES[cert.type][0]}) covers the lot but {when}",
            {"certificates": [show(c) for c in mine]},
        )
    return "not_met", f"no {names} certificate covers this lot", {"certificates": []}


async def _commitment(
    session: AsyncSession, facts: LotFacts, at: datetime
) -> tuple[State, str, dict[str, Any]]:
    certs = [c for c in await commitment.of_lot(session, facts.lot.id) if c.issued_at <= at]
    if certs:
        last = certs[-1]
        return (
            "met",
            f"承诺达标合格证 {last.number} issued {last.issued_at.isoformat()}",
            {"commitment_certificates": [c.number for c in certs]},
        )
    own = (
        " of its own (it is made from other lots; theirs do not carry over)"
        if facts.derived
        else ""
    )
    return "not_met", f"no 承诺达标合格证{own}", {"commitment_certificates": []}


async def _test(
    session: AsyncSession, facts: LotFacts, rule: TestPassedRule, at: datetime
) -> tuple[State, str, dict[str, Any]]:
    since = at - timedelta(days=rule.days)
    found = [r for r in await results_of(session, facts.lot, test=rule.test, since=since)
             if r.row.tested_at <= at]  # fmt: skip
    if not found:
        return "not_met", f"no {rule.test} test within {rule.days} days", {}
    latest_event = found[0].row.event_seq
    latest = [r.row for r in found if r.row.event_seq == latest_event]
    evidence = {
        "event_id": latest[0].event_id,
        "tested_at": latest[0].tested_at.isoformat(),
        "results": [
            {"analyte": r.analyte, "value": r.value, "unit": r.unit, "min": r.limit_min,
             "limit": r.limit_max, "passed": r.passed, "method": r.method}
            for r in latest
        ],
    }  # fmt: skip
    failed = [r for r in latest if not r.passed]
    if failed:
        names = ", ".join(r.analyte or r.test for r in failed)
        return (
            "not_met",
            f"the latest {rule.test} test ({latest[0].tested_at.isoformat()}) failed: {names}",
            evidence,
        )
    return (
        "met",
        f"{rule.test} test passed on {latest[0].tested_at.isoformat()} (within {rule.days} days)",
        evidence,
    )


async def cold_chain_evidence(session: AsyncSession, lot: TraceLot) -> list[dict[str, Any]] | None:
    """The lot's custody intervals with the status of their sensor evidence, or None
    when the lot has no custody interval (nothing to judge yet).

    Each interval, oldest first (:func:`cloud.trace.custody.service.custody_of`):
    ``{"place", "start", "end", "status", "evidence_event_id"}``, the status that of
    its newest (current) evidence row as custody computed it (``pass``, ``excursion``,
    ``insufficient_data``, ``no_profile``); ``no_devices`` when nothing measured the
    place (or the place is not in our catalog); ``pending`` when devices measured it but
    no evidence has been computed yet. A gap is never compliant: only ``pass`` meets
    the rule.
    """
    views = await custody_of(session, lot)
    if not views:
        return None
    out: list[dict[str, Any]] = []
    for v in views:
        i = v.interval
        current = v.evidence[0] if v.evidence else None
        if current is not None:
            status = current.status
        elif v.location is None or not v.measured:
            status = "no_devices"
        else:
            status = "pending"
        out.append(
            {
                "place": i.place,
                "location": None if v.location is None else v.location.name,
                "kind": None if v.location is None else v.location.kind,
                "measured": v.measured,
                "start": i.start.isoformat(),
                "end": None if i.end is None else i.end.isoformat(),
                "status": status,
                "evidence_event_id": None if current is None else current.event_id,
            }
        )
    return out


def judged(interval: dict[str, Any], places: str) -> bool:
    """Whether the rule (``places``) judges this interval: see ``cold_chain_compliant``
    in :mod:`cloud.trace.brand.rules`."""
    if places == "all" or interval.get("kind") is None or interval.get("measured"):
        return True
    return interval["kind"] in COLD_PLACE_KINDS


async def _cold_chain(
    session: AsyncSession, facts: LotFacts, rule: ColdChainRule
) -> tuple[State, str, dict[str, Any]]:
    every = await cold_chain_evidence(session, facts.lot)
    skipped = [i for i in every or [] if not judged(i, rule.places)]
    intervals = [i for i in every or [] if judged(i, rule.places)]
    if not intervals:
        return (
            "unknown",
            "no evidence yet: custody intervals and their sensor evidence are not recorded "
            "for this lot"
            + (f" ({len(skipped)} at unmeasured places that are not kept cold)" if skipped else ""),
            {"intervals": [], "not_judged": skipped},
        )
    # a gap is never compliant: anything but pass fails the rule
    bad = [i for i in intervals if i.get("status") != "pass"]
    if bad:
        shown = ", ".join(
            f"{i.get('location') or i.get('place')} from {i.get('start')}: {i.get('status')}"
            for i in bad
        )
        return (
            "not_met",
            f"{len(bad)} of {len(intervals)} custody intervals not within the profile ({shown})",
            {"intervals": intervals, "not_judged": skipped},
        )
    return (
        "met",
        f"all {len(intervals)} custody intervals within the profile"
        + (
            f" ({len(skipped)} at unmeasured places that are not kept cold left out)"
            if skipped
            else ""
        ),
        {"intervals": intervals, "not_judged": skipped},
    )


async def _camera(
    session: AsyncSession, facts: LotFacts, rule: CameraGradeRule, at: datetime
) -> tuple[State, str, dict[str, Any]]:
    graded = [i for i in await inspections_of(session, facts.lot)
              if i.usable and i.grade is not None and i.ts <= at]  # fmt: skip
    if not graded:
        return "not_met", "no usable camera inspection with a grade names this lot", {}
    last = graded[0]
    evidence = {"inspection_id": last.id, "grade": last.grade, "ts": last.ts.isoformat(),
                "device": last.device, "program": last.program}  # fmt: skip
    ranks = rule.ranks
    if last.grade not in ranks:
        return (
            "not_met",
            f"the latest inspection's grade {last.grade!r} is not on the scale ({', '.join(ranks)})",
            evidence,
        )
    if ranks.index(last.grade) <= ranks.index(rule.grade):
        return "met", f"camera grade {last.grade} (at least {rule.grade})", evidence
    return "not_met", f"camera grade {last.grade} is below {rule.grade}", evidence


async def evaluate(
    session: AsyncSession,
    facts: LotFacts,
    rules: list[Rule],
    version: int,
    at: datetime,
) -> Evaluation:
    states: list[RuleState] = []
    for i, rule in enumerate(rules):
        shown = rule_json(rule)
        if rule.categories is not None and facts.category not in rule.categories:
            states.append(
                RuleState(i, shown, "not_applicable",
                          f"applies to {', '.join(rule.categories)}, not {facts.category}")
            )  # fmt: skip
            continue
        if isinstance(rule, CertificateRule):
            state, detail, evidence = await _certificate(session, facts, rule, at)
        elif isinstance(rule, CommitmentRule):
            state, detail, evidence = await _commitment(session, facts, at)
        elif isinstance(rule, TestPassedRule):
            state, detail, evidence = await _test(session, facts, rule, at)
        elif isinstance(rule, ColdChainRule):
            state, detail, evidence = await _cold_chain(session, facts, rule)
        else:
            assert isinstance(rule, CameraGradeRule)
            state, detail, evidence = await _camera(session, facts, rule, at)
        states.append(RuleState(i, shown, state, detail, evidence))
    return Evaluation(at, version, states)
