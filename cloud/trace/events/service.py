"""EPCIS events: :func:`store_events` is the one way events are stored (the capture
interface, our own operations, evidence events all call it); :func:`get_event` and
:func:`query_events` read them, county-scoped.

What storing does, for a list of events:

1. validates each (GS1's JSON Schema and the CBV checks, :mod:`cloud.trace.epcis`);
2. gives an event without ``eventID`` its CBV 2.0 event hash, and every event our
   ``recordTime``;
3. checks the lots it names: an identifier of one of our GTINs must name a registered
   lot; the event's county is its lots' (all of one county, one the principal may
   write in; organisation roles only their own organisation's lots), or the
   principal's own when it names none of our lots;
4. decides it against what is stored: the same event again changes nothing; the same
   event with ``errorDeclaration`` added is a declaration (kept beside the event,
   which is never changed); anything else under an existing eventID is a conflict;
5. stores all of it or nothing (``rollback``), or the events without an error
   (``proceed``, the capture interface's GS1-Capture-Error-Behaviour), and appends
   what is new to the tamper-evident log in the same transaction.

Nothing is written before every check has passed, so a refused list leaves the
caller's session as it was. The caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth.principal import Principal
from cloud.trace.events.query import EventPage, EventQuery, fetch_event, run_query
from cloud.trace.events.store import (
    EventError,
    EventsRefused,
    StoredEvent,
    StoreOutcome,
    store,
)

__all__ = [
    "EventError",
    "EventPage",
    "EventQuery",
    "EventsRefused",
    "StoreOutcome",
    "StoredEvent",
    "get_event",
    "query_events",
    "store_events",
    "store_events_proceeding",
]


async def store_events(
    session: AsyncSession,
    events: Sequence[dict[str, Any]],
    principal: Principal,
    *,
    path: str = "eventList",
    context: list[Any] | None = None,
    validate: bool = True,
    capture_id: str | None = None,
) -> list[StoredEvent]:
    """Store ``events`` all or nothing; EventsRefused (with every error) otherwise.

    ``path`` prefixes the errors' fields (``eventList[3].bizStep``); ``context`` is
    the enclosing document's ``@context`` as a list, if any (the namespaces of the
    events' extension fields: kept with each event, and hashed); ``validate=False`` when the caller validated already (the
    capture interface validates the whole document).
    """
    outcome = await store(
        session,
        events,
        principal,
        path=path,
        context=context,
        validate=validate,
        behaviour="rollback",
        capture_id=capture_id,
    )
    if outcome.errors:
        raise EventsRefused(outcome.errors)
    return outcome.stored


async def store_events_proceeding(
    session: AsyncSession,
    events: Sequence[dict[str, Any]],
    principal: Principal,
    *,
    path: str = "eventList",
    context: list[Any] | None = None,
    validate: bool = True,
    capture_id: str | None = None,
    refused: Sequence[int] = (),
) -> StoreOutcome:
    """Store the events that pass and refuse the others (``proceed``); ``refused``:
    indexes the caller has refused already (not stored)."""
    return await store(
        session,
        events,
        principal,
        path=path,
        context=context,
        validate=validate,
        behaviour="proceed",
        capture_id=capture_id,
        refused=set(refused),
    )


async def get_event(
    session: AsyncSession, event_id: str, principal: Principal
) -> dict[str, Any] | None:
    """The event as returned (with any errorDeclaration), or None when there is none of
    that eventID in a county ``principal`` can see."""
    found = await fetch_event(session, event_id, principal.counties())
    return None if found is None else found.events[0]


async def query_events(
    session: AsyncSession, params: EventQuery, principal: Principal
) -> EventPage:
    """One page of the events matching ``params`` in the counties ``principal`` sees."""
    return await run_query(session, params, principal.counties())
