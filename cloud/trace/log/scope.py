"""Which county an entry of the log belongs to: the county of its event.

The log itself holds no county (a leaf is a hash); the event store does. Inclusion
proofs by event id or leaf index are county-scoped through :func:`event_county`.
"""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table, Text, select
from sqlalchemy.ext.asyncio import AsyncSession

#: The log key of an event's error declaration (a leaf of its own): the same suffix as
#: h/events' ``cloud.trace.events.log.declaration_leaf_id``.
DECLARATION_SUFFIX = "#errorDeclaration"

# TODO(h/events): once cloud/trace/events lands on main, read the county through its
# model (``cloud.trace.events.storage.TraceEvent``) instead of this two-column view of
# the ``trace_events`` table that TRACE.md fixes (event_id, county).
_trace_events = Table(
    "trace_events",
    MetaData(),
    Column("event_id", Text, primary_key=True),
    Column("county", String(6)),
)


def event_id_of(log_key: str) -> str:
    """The eventID a log key belongs to (a declaration's key names its event)."""
    return log_key.removesuffix(DECLARATION_SUFFIX)


async def event_county(session: AsyncSession, log_key: str) -> str | None:
    """The county of the event behind a log key; None when the event store has no such
    event (then only prefecture principals, who see every county, may read it)."""
    county = await session.scalar(
        select(_trace_events.c.county).where(_trace_events.c.event_id == event_id_of(log_key))
    )
    return None if county is None else str(county)
