"""Who wants to hear that an alarm changed (raised, repeated, acknowledged, cleared,
withdrawn, escalated), without the cold chain importing them: the dispatcher
console (logistics, a higher floor) registers here and pushes the alarm to its
stream at once instead of waiting for its poller.

    from cloud.coldchain.listeners import add_alarm_listener
    add_alarm_listener(lambda alarm: ...)  # alarm: a dict of the row's columns

- A listener hears an alarm **after the transaction that changed it committed** (a
  rolled-back change is never heard), once per commit, with the row as it was
  flushed (a plain dict: ``id``, ``county``, ``status``, ``active``, ``count``,
  ``acknowledged_by``, ``ack_comment``, ...; datetimes as they are).
- It works on every write path (the engine, the API's acknowledge, the escalator,
  any code using :mod:`cloud.coldchain.alarms`) because it listens to the ORM's
  inserts and updates of :class:`~cloud.coldchain.storage.ColdchainAlarm`.
- Listeners must not block (note and return); one that raises is logged, never fails
  the commit nor the other listeners.
- In-process: a change committed by another process (another API worker, an ingest
  worker's engine) is not heard here; the console's poller covers those.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Mapper, Session, object_session

from cloud.coldchain.storage import ColdchainAlarm

log = logging.getLogger(__name__)

AlarmListener = Callable[[dict[str, Any]], None]

_listeners: list[AlarmListener] = []
_KEY = "coldchain.alarm_changes"


def add_alarm_listener(fn: AlarmListener) -> None:
    """Hear every committed alarm change of this process (idempotent)."""
    if fn not in _listeners:
        _listeners.append(fn)


def remove_alarm_listener(fn: AlarmListener) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


def snapshot(alarm: ColdchainAlarm) -> dict[str, Any]:
    """The alarm's columns as a plain dict (no lazy load: what is in memory)."""
    state = inspect(alarm)
    return {a.key: state.dict.get(a.key) for a in state.mapper.column_attrs}


def _noted(_mapper: Mapper[Any], _conn: Any, target: ColdchainAlarm) -> None:
    if not _listeners:
        return
    s = object_session(target)
    if s is not None:
        s.info.setdefault(_KEY, {})[target.id] = snapshot(target)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    changes = session.info.pop(_KEY, None)
    if not changes:
        return
    for row in changes.values():
        for fn in list(_listeners):
            try:
                fn(row)
            except Exception:
                log.exception("alarm listener %r failed; the change stands", fn)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_KEY, None)


event.listen(ColdchainAlarm, "after_insert", _noted)
event.listen(ColdchainAlarm, "after_update", _noted)
