"""Reminders and overdue flags of the rhythm, through ``cloud.notify`` channels.

:func:`tick` runs once a day (or more: it is idempotent). With an injected ``today``:

- an open item whose ``remind_on`` has come (a monthly report: the 20th) and whose due
  date has not passed gets one reminder (``reminded_at``);
- an open item past its due date (a monthly report: from the 26th) is flagged overdue
  once (``overdue_at``) and the flag is sent.

The item is marked in one transaction (and audited, actor ``system:supervision``)
before its message is handed to the notifier, which stores the delivery, retries it
and dead-letters it (cloud/notify/README.md): a flag is never sent twice by two ticks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from cloud.audit.service import record
from cloud.db import Database
from cloud.db.base import utcnow
from cloud.notify import Notification, Notifier
from cloud.supervision.storage import ScheduleItem

ACTOR = "system:supervision"


@dataclass(frozen=True, slots=True)
class Sent:
    item_id: int
    what: str  # reminder | overdue
    county: str
    kind: str
    ref: str
    statuses: tuple[str, ...]


def _message(it: ScheduleItem, what: str) -> Notification:
    if what == "reminder":
        title = f"提醒：{it.title} 将于 {it.due_on} 到期 Reminder: due {it.due_on}"
        severity = "info"
    else:
        title = f"逾期：{it.title} 已于 {it.due_on} 到期 Overdue since {it.due_on}"
        severity = "warning"
    text = f"责任人 Owner: {it.owner}；事项 Item: {it.kind} {it.ref}（县 county {it.county}）"
    return Notification(
        title,
        text,
        severity,
        data={
            "schedule_id": it.id,
            "kind": it.kind,
            "ref": it.ref,
            "county": it.county,
            "due_on": it.due_on.isoformat(),
            "what": what,
        },
        key=f"supervision:{it.id}:{what}",
    )


async def tick(
    db: Database, notifier: Notifier, channels: Sequence[str], today: date
) -> list[Sent]:
    """Send what ``today`` makes due; returns what was sent (with each channel's outcome)."""
    todo: list[tuple[ScheduleItem, str]] = []
    async with db.transaction() as s:
        rows = await s.scalars(
            select(ScheduleItem)
            .where(ScheduleItem.status == "open", ScheduleItem.remind_on <= today)
            .where((ScheduleItem.reminded_at.is_(None)) | (ScheduleItem.overdue_at.is_(None)))
            .order_by(ScheduleItem.due_on, ScheduleItem.id)
            .with_for_update(skip_locked=True)
        )
        for it in rows:
            if it.due_on < today:
                if it.overdue_at is None:
                    it.overdue_at = utcnow()
                    todo.append((it, "overdue"))
            elif it.reminded_at is None:
                it.reminded_at = utcnow()
                todo.append((it, "reminder"))
        for it, what in todo:
            await record(
                s,
                ACTOR,
                f"supervision.schedule.{what}",
                f"schedule:{it.id}",
                it.county,
                {"after": {what: today.isoformat()}},
            )
    sent = []
    for it, what in todo:
        outs = await notifier.send_all(list(channels), _message(it, what))
        sent.append(Sent(it.id, what, it.county, it.kind, it.ref, tuple(o.status for o in outs)))
    return sent
