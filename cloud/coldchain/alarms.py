"""The alarm lifecycle: raised -> acknowledged (who, when, comment) -> cleared.

- An alarm is raised once per condition (``device``, ``metric``, ``rule``); while it
  is not cleared, the condition coming back (flapping) adds to its ``count`` instead
  of raising another.
- ``active`` says whether the condition holds now. Acknowledging an alarm whose
  condition has ended clears it; a condition ending on an acknowledged alarm clears
  it. An unacknowledged alarm stays raised (someone must see it) after its condition
  ends.
- Every transition is audited (``coldchain.alarm.*``) in the same transaction.

Everything here works in the caller's session; the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.coldchain.storage import ColdchainAlarm

SYSTEM = "system:coldchain"
STATUSES = ("raised", "acknowledged", "cleared")


class AlarmError(ValueError):
    def __init__(self, status: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(frozen=True, slots=True)
class Condition:
    """What raises or repeats an alarm."""

    county: str
    device: str
    metric: str
    rule: str
    source: str  # cloud | gateway
    severity: str  # warning | critical
    first_ms: int
    last_ms: int
    peak_c: float | None = None
    message: str = ""
    location_id: int | None = None
    org_id: int | None = None


async def open_alarm(s: AsyncSession, device: str, metric: str, rule: str) -> ColdchainAlarm | None:
    """The alarm of this condition that is not cleared yet, if any."""
    return await s.scalar(
        select(ColdchainAlarm)
        .where(
            ColdchainAlarm.device == device,
            ColdchainAlarm.metric == metric,
            ColdchainAlarm.rule == rule,
            ColdchainAlarm.status != "cleared",
        )
        .order_by(ColdchainAlarm.id.desc())
        .limit(1)
    )


async def raise_or_repeat(
    s: AsyncSession, c: Condition, now: datetime
) -> tuple[ColdchainAlarm, bool]:
    """Raise an alarm for ``c``, or count another occurrence on the one not cleared;
    ``(alarm, raised)``."""
    alarm = await open_alarm(s, c.device, c.metric, c.rule)
    if alarm is None:
        alarm = ColdchainAlarm(
            county=c.county, location_id=c.location_id, org_id=c.org_id, device=c.device,
            metric=c.metric, rule=c.rule, source=c.source, severity=c.severity,
            status="raised", active=True, count=1, first_ms=c.first_ms, last_ms=c.last_ms,
            peak_c=c.peak_c, message=c.message, raised_at=now, escalation_step=0, detail={},
        )  # fmt: skip
        s.add(alarm)
        await s.flush()
        await record(s, SYSTEM, "coldchain.alarm.raised", f"alarm:{alarm.id}", c.county,
                     {"device": c.device, "metric": c.metric, "rule": c.rule,
                      "severity": c.severity, "first_ms": c.first_ms})  # fmt: skip
        return alarm, True
    alarm.count += 1
    alarm.active = True
    alarm.first_ms = min(alarm.first_ms, c.first_ms)
    alarm.last_ms = max(alarm.last_ms, c.last_ms)
    if c.severity == "critical":
        alarm.severity = "critical"
    if c.peak_c is not None:
        alarm.peak_c = c.peak_c if alarm.peak_c is None else _worse(alarm.peak_c, c.peak_c)
    alarm.message = c.message or alarm.message
    await record(s, SYSTEM, "coldchain.alarm.repeated", f"alarm:{alarm.id}", alarm.county,
                 {"count": alarm.count, "last_ms": c.last_ms})  # fmt: skip
    return alarm, False


def _worse(a: float, b: float) -> float:
    return a if abs(a) >= abs(b) else b


async def condition_ended(
    s: AsyncSession, alarm: ColdchainAlarm, now: datetime, reason: str = "back in range"
) -> None:
    if not alarm.active:
        return
    alarm.active = False
    await record(s, SYSTEM, "coldchain.alarm.condition_ended", f"alarm:{alarm.id}",
                 alarm.county, {"reason": reason})  # fmt: skip
    if alarm.status == "acknowledged":
        await _clear(s, alarm, now, reason, SYSTEM)


async def _clear(
    s: AsyncSession, alarm: ColdchainAlarm, now: datetime, reason: str, actor: str
) -> None:
    alarm.status = "cleared"
    alarm.cleared_at = now
    alarm.cleared_reason = reason[:200]
    await record(s, actor, "coldchain.alarm.cleared", f"alarm:{alarm.id}", alarm.county,
                 {"reason": reason, "count": alarm.count})  # fmt: skip


async def acknowledge(
    s: AsyncSession, alarm: ColdchainAlarm, *, actor: str, comment: str, now: datetime
) -> ColdchainAlarm:
    """Acknowledge (stops the escalation); cleared at once when the condition ended."""
    comment = comment.strip()
    if not comment:
        raise AlarmError(422, "comment: say what was done (一句说明处理情况)", "body.comment")
    if len(comment) > 1000:
        raise AlarmError(422, f"comment: {len(comment)} characters, at most 1000", "body.comment")
    if alarm.status != "raised":
        raise AlarmError(
            409, f"alarm {alarm.id} is {alarm.status} already (by {alarm.acknowledged_by})"
        )
    alarm.status = "acknowledged"
    alarm.acknowledged_at = now
    alarm.acknowledged_by = actor
    alarm.ack_comment = comment
    await record(s, actor, "coldchain.alarm.acknowledged", f"alarm:{alarm.id}", alarm.county,
                 {"comment": comment, "count": alarm.count})  # fmt: skip
    if not alarm.active:
        await _clear(s, alarm, now, "acknowledged after the condition ended", actor)
    return alarm


async def withdraw(s: AsyncSession, alarm: ColdchainAlarm, now: datetime) -> None:
    """Late readings show the condition never was: cleared as withdrawn."""
    alarm.active = False
    if alarm.status != "cleared":
        await _clear(s, alarm, now, "withdrawn: late readings show no excursion", SYSTEM)


def alarms_query(
    counties: Sequence[str] | None,
    *,
    status: str | None = None,
    active: bool | None = None,
    device: str | None = None,
    location_id: int | None = None,
    rule: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> Select[tuple[ColdchainAlarm]]:
    """Alarms of ``counties`` (None: all), newest first."""
    q = select(ColdchainAlarm)
    if counties is not None:
        q = q.where(ColdchainAlarm.county.in_(list(counties)))
    if status is not None:
        q = q.where(ColdchainAlarm.status == status)
    if active is not None:
        q = q.where(ColdchainAlarm.active.is_(active))
    if device is not None:
        q = q.where(ColdchainAlarm.device == device)
    if location_id is not None:
        q = q.where(ColdchainAlarm.location_id == location_id)
    if rule is not None:
        q = q.where(ColdchainAlarm.rule == rule)
    if since_ms is not None:
        q = q.where(ColdchainAlarm.last_ms >= since_ms)
    if until_ms is not None:
        q = q.where(ColdchainAlarm.first_ms < until_ms)
    return q.order_by(ColdchainAlarm.id.desc())
