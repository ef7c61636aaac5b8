"""The query interface's parameters (EPCIS 2.0 §8.2.7, SimpleEventQuery, as the REST
binding passes them in the query string) and the SQL that answers them, county-scoped.

Values: a parameter given several times, or with values separated by ``|`` (the
binding's separator) or ``,``, matches any of them (OR); parameters combine with AND.
A URI list splits on ``,`` only before a new URI (``...,urn:...``, ``...,https://...``),
so a lot number with a comma stays whole. Identifiers match normalised: a Digital Link
on any domain and the equivalent EPC URN are one identifier.

Paging (the binding): ``perPage`` events per page (default 100, at most 1000), and a
``nextPageToken`` in the ``Link: <...>; rel="next"`` header while there are more. The
token is the sort key of the page's last event: stable under inserts, an index seek at
any depth. It is bound to the query: with other parameters it is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.trace.events.objects import INSTANCE_ROLES, QUANTITY_ROLES, cbv_word, normalise
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.events.store import parse_time, returned_body

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000

#: MATCH_ parameters and the roles (trace_event_objects.role) each looks in
MATCH_ROLES: dict[str, tuple[str, ...]] = {
    "MATCH_epc": ("epc", "child"),
    "MATCH_parentID": ("parent",),
    "MATCH_inputEPC": ("input_epc",),
    "MATCH_outputEPC": ("output_epc",),
    "MATCH_anyEPC": INSTANCE_ROLES,
    "MATCH_epcClass": ("quantity",),
    "MATCH_inputEPCClass": ("input_quantity",),
    "MATCH_outputEPCClass": ("output_quantity",),
    "MATCH_anyEPCClass": QUANTITY_ROLES,
}
#: EQ_ parameters on one column, and how a value is normalised for it
EQ_COLUMNS = {
    "eventType": "event_type",
    "EQ_action": "action",
    "EQ_bizStep": "biz_step",
    "EQ_disposition": "disposition",
    "EQ_readPoint": "read_point",
    "EQ_bizLocation": "biz_location",
    "EQ_eventID": "event_id",
    "EQ_errorReason": "error_reason",
}
TIME_BOUNDS = {
    "GE_eventTime": ("event_time", True),
    "LT_eventTime": ("event_time", False),
    "GE_recordTime": ("record_time", True),
    "LT_recordTime": ("record_time", False),
    "GE_errorDeclarationTime": ("declared_at", True),
    "LT_errorDeclarationTime": ("declared_at", False),
    # the spelling of GS1's query-schema.json
    "GE_errorDeclaration_Time": ("declared_at", True),
    "LT_errorDeclaration_Time": ("declared_at", False),
}
#: standard parameters this repository does not answer (501 naming them, not ignored)
UNSUPPORTED = re.compile(
    r"^(EQ_persistentDisposition_set|EQ_persistentDisposition_unset|(EQ|GT|GE|LT|LE)_quantity"
    r"|WD_readPoint|WD_bizLocation|EQ_transformationID|EQ_correctiveEventID"
    r"|EXISTS_sensorElementList|(GE|LT)_(time|startTime|endTime)|EQ_type|EQ_deviceID"
    r"|EQ_dataProcessingMethod|EQ_microorganism|EQ_chemicalSubstance|EQ_bizRules"
    r"|EQ_(string|boolean|hexBinary|uri)Value|(GE|LT|GT|LE)_percRank"
    r"|(EQ|GT|GE|LT|LE|EXISTS|HASATTR)_.+|EQ_ATTR_.+)$"
)
ORDER_COLUMNS = {"eventTime": "event_time", "recordTime": "record_time"}
_URI_START = re.compile(r",(?=[A-Za-z][A-Za-z0-9+.-]*:)")


class QueryError(Exception):
    """``status`` (422 invalid, 501 not supported, 413 too many events) and the field."""

    def __init__(self, status: int, message: str, field: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(frozen=True, slots=True)
class EventQuery:
    """A parsed query. ``equals``: column -> accepted values; ``match``: one (roles,
    identifiers) per MATCH_ parameter; ``bounds``: (column, inclusive lower?, time)."""

    equals: tuple[tuple[str, tuple[str, ...]], ...] = ()
    match: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    bounds: tuple[tuple[str, bool, datetime], ...] = ()
    exists_error_declaration: bool = False
    order_by: str = "seq"
    descending: bool = False
    per_page: int = DEFAULT_PER_PAGE
    event_count_limit: int | None = None
    max_event_count: int | None = None
    #: from the nextPageToken: the last event's sort key and how many came before
    after: tuple[Any, ...] | None = None
    returned: int = 0
    #: digest of the parameters, binding a token to its query
    digest: str = ""


@dataclass(frozen=True, slots=True)
class EventPage:
    """The events of one page (as returned), the extension @context they use, and the
    token of the next page (None: last page)."""

    events: list[dict[str, Any]]
    context: list[Any] = field(default_factory=list)
    next_token: str | None = None


def _split(name: str, value: str) -> list[str]:
    parts: list[str] = []
    for piece in value.split("|"):
        if name.startswith("MATCH_") or name in ("EQ_readPoint", "EQ_bizLocation", "EQ_eventID"):
            parts.extend(_URI_START.split(piece))
        else:
            parts.extend(piece.split(","))
    return [p.strip() for p in parts if p.strip()]


def _int(name: str, value: str, low: int, high: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise QueryError(422, f"{name} is a whole number, not {value!r}", f"query.{name}") from None
    if not low <= n <= high:
        raise QueryError(422, f"{name} is {low} to {high}, not {n}", f"query.{name}")
    return n


def parse_query(items: Sequence[tuple[str, str]]) -> EventQuery:
    """The query of ``items`` (the query string's pairs); QueryError naming the
    parameter at fault."""
    values: dict[str, list[str]] = {}
    token: str | None = None
    for name, value in items:
        if name == "nextPageToken":
            token = value
            continue
        values.setdefault(name, []).extend(_split(name, value))
    equals: list[tuple[str, tuple[str, ...]]] = []
    match: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    bounds: list[tuple[str, bool, datetime]] = []
    q = EventQuery()
    for name, given in values.items():
        field_name = f"query.{name}"
        if not given and name != "EXISTS_errorDeclaration":
            raise QueryError(422, f"{name} has no value", field_name)
        if name in EQ_COLUMNS:
            equals.append((EQ_COLUMNS[name], tuple(_eq_value(name, v) for v in given)))
        elif name in MATCH_ROLES:
            match.append((MATCH_ROLES[name], tuple(_match_value(name, v) for v in given)))
        elif name in TIME_BOUNDS:
            column, lower = TIME_BOUNDS[name]
            if len(given) != 1:
                raise QueryError(422, f"{name} takes one time", field_name)
            try:
                bounds.append((column, lower, parse_time(given[0])))
            except ValueError as exc:
                raise QueryError(422, f"{name}: {exc}", field_name) from None
        elif name == "EXISTS_errorDeclaration":
            q = replace(q, exists_error_declaration=True)
        elif name == "orderBy":
            if given[0] not in ORDER_COLUMNS:
                raise QueryError(
                    422, f"orderBy is eventTime or recordTime, not {given[0]!r}", field_name
                )
            q = replace(q, order_by=ORDER_COLUMNS[given[0]], descending=True)
        elif name == "orderDirection":
            if given[0] not in ("ASC", "DESC"):
                raise QueryError(
                    422, f"orderDirection is ASC or DESC, not {given[0]!r}", field_name
                )
        elif name == "perPage":
            q = replace(q, per_page=_int(name, given[0], 1, MAX_PER_PAGE))
        elif name == "eventCountLimit":
            q = replace(q, event_count_limit=_int(name, given[0], 1, 2**31 - 1))
        elif name == "maxEventCount":
            q = replace(q, max_event_count=_int(name, given[0], 1, 2**31 - 1))
        elif UNSUPPORTED.match(name):
            raise QueryError(
                501,
                f"{name} is an EPCIS query parameter this repository does not answer; "
                "leave it out (see cloud/trace/README.md for the ones it does)",
                field_name,
            )
        else:
            raise QueryError(422, f"{name} is not an EPCIS query parameter", field_name)
    if "orderDirection" in values:
        if "orderBy" not in values:
            q = replace(q, order_by="record_time")
        q = replace(q, descending=values["orderDirection"][0] == "DESC")
    if q.event_count_limit is not None and q.max_event_count is not None:
        raise QueryError(
            422, "eventCountLimit and maxEventCount exclude each other", "query.maxEventCount"
        )
    q = replace(
        q,
        equals=tuple(sorted(equals)),
        match=tuple(sorted(match)),
        bounds=tuple(sorted(bounds)),
    )
    q = replace(q, digest=_digest(q))
    if token is not None:
        q = _with_token(q, token)
    return q


def _eq_value(name: str, value: str) -> str:
    if name == "EQ_bizStep":
        return cbv_word(value, "bizStep") or value
    if name == "EQ_disposition":
        return cbv_word(value, "disposition") or value
    if name == "EQ_errorReason":
        return cbv_word(value, "errorReason") or value
    if name in ("EQ_readPoint", "EQ_bizLocation"):
        return normalise(value)[0]
    return value


def _match_value(name: str, value: str) -> str:
    if "*" in value:
        raise QueryError(
            501,
            f"{name}: EPC patterns ({value!r}) are not answered; name the identifier itself",
            f"query.{name}",
        )
    return normalise(value)[0]


def _digest(q: EventQuery) -> str:
    plain = [q.equals, q.match, [(c, lo, t.isoformat()) for c, lo, t in q.bounds],
             q.exists_error_declaration, q.order_by, q.descending, q.event_count_limit]  # fmt: skip
    return hashlib.sha256(orjson.dumps(plain)).hexdigest()[:16]


def _bad_token() -> QueryError:
    return QueryError(
        422,
        'nextPageToken is not one of this query\'s: follow the Link rel="next" header with '
        "the same parameters",
        "query.nextPageToken",
    )


def encode_token(q: EventQuery, key: tuple[Any, ...], returned: int) -> str:
    plain = [q.digest, [k.isoformat() if isinstance(k, datetime) else k for k in key], returned]
    return base64.urlsafe_b64encode(orjson.dumps(plain)).decode().rstrip("=")


def _with_token(q: EventQuery, token: str) -> EventQuery:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise _bad_token() from None
    if (
        not isinstance(raw, list)
        or len(raw) != 3
        or raw[0] != q.digest
        or not isinstance(raw[1], list)
        or type(raw[2]) is not int
    ):
        raise _bad_token()
    key = raw[1]
    try:
        if q.order_by == "seq":
            if len(key) != 1 or type(key[0]) is not int:
                raise _bad_token()
            after: tuple[Any, ...] = (key[0],)
        else:
            if len(key) != 2 or type(key[1]) is not int:
                raise _bad_token()
            after = (datetime.fromisoformat(key[0]), key[1])
    except (TypeError, ValueError):
        raise _bad_token() from None
    return replace(q, after=after, returned=raw[2])


def _where(query: Select[Any], q: EventQuery, counties: list[str] | None) -> Select[Any]:
    """The filters. The first MATCH_ parameter drives the query from the identifiers'
    index (a join, so that one lot's events are an index lookup, not a scan of the
    events in order); the others are semi-joins."""
    if counties is not None:
        query = query.where(TraceEvent.county.in_(counties))
    for column, accepted in q.equals:
        query = query.where(getattr(TraceEvent, column).in_(accepted))
    for column, lower, t in q.bounds:
        col = getattr(TraceEvent, column)
        query = query.where(col >= t if lower else col < t)
    if q.exists_error_declaration:
        query = query.where(TraceEvent.error_declaration.is_not(None))
    for i, (roles, uris) in enumerate(q.match):
        if i == 0:
            query = query.join(TraceEventObject, TraceEventObject.event_seq == TraceEvent.seq)
            query = query.where(
                TraceEventObject.uri.in_(uris), TraceEventObject.role.in_(roles)
            ).distinct()
            continue
        named = select(TraceEventObject.event_seq).where(
            TraceEventObject.uri.in_(uris), TraceEventObject.role.in_(roles)
        )
        query = query.where(TraceEvent.seq.in_(named))
    return query


def _order(query: Select[Any], q: EventQuery) -> Select[Any]:
    seq = TraceEvent.seq
    if q.order_by == "seq":
        if q.after is not None:
            query = query.where(seq < q.after[0] if q.descending else seq > q.after[0])
        return query.order_by(seq.desc() if q.descending else seq)
    col = getattr(TraceEvent, q.order_by)
    if q.after is not None:
        t, last = q.after
        if q.descending:
            query = query.where(or_(col < t, and_(col == t, seq < last)))
        else:
            query = query.where(or_(col > t, and_(col == t, seq > last)))
    if q.descending:
        return query.order_by(col.desc(), seq.desc())
    return query.order_by(col, seq)


async def run_query(session: AsyncSession, q: EventQuery, counties: list[str] | None) -> EventPage:
    """One page of events (``counties`` None: every county): the page's keys first
    (filters, order, limit; no JSON read), then those events' bodies by primary key."""
    keys = select(TraceEvent.seq, TraceEvent.event_time, TraceEvent.record_time)
    keys = _where(keys, q, counties)
    if q.max_event_count is not None and q.after is None:
        over = (await session.execute(keys.limit(q.max_event_count + 1))).all()
        if len(over) > q.max_event_count:
            raise QueryError(
                413,
                f"more than maxEventCount={q.max_event_count} events match; narrow the query",
                "query.maxEventCount",
            )
    limit = q.per_page
    if q.event_count_limit is not None:
        limit = min(limit, q.event_count_limit - q.returned)
        if limit <= 0:
            return EventPage([])
    rows = (await session.execute(_order(keys, q).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    bodies = {
        seq: (returned_body(body, declaration), context)
        for seq, body, declaration, context in await session.execute(
            select(
                TraceEvent.seq, TraceEvent.body, TraceEvent.error_declaration, TraceEvent.context
            ).where(TraceEvent.seq.in_([r[0] for r in rows]))
        )
    } if rows else {}  # fmt: skip
    returned = q.returned + len(rows)
    if q.event_count_limit is not None and returned >= q.event_count_limit:
        more = False
    token = None
    if more and rows:
        seq, event_time, record_time = rows[-1]
        key: tuple[Any, ...] = (
            (seq,) if q.order_by == "seq"
            else (event_time if q.order_by == "event_time" else record_time, seq)
        )  # fmt: skip
        token = encode_token(q, key, returned)
    events, context = with_context([bodies[r[0]] for r in rows])
    return EventPage(events, context, token)


async def fetch_event(
    session: AsyncSession, event_id: str, counties: list[str] | None
) -> EventPage | None:
    """The one event of ``event_id`` (as a page), or None."""
    q = select(TraceEvent.body, TraceEvent.error_declaration, TraceEvent.context).where(
        TraceEvent.event_id == event_id
    )
    if counties is not None:
        q = q.where(TraceEvent.county.in_(counties))
    row = (await session.execute(q)).one_or_none()
    if row is None:
        return None
    body, declaration, context = row
    events, merged = with_context([(returned_body(body, declaration), context)])
    return EventPage(events, merged, None)


def with_context(
    rows: list[tuple[dict[str, Any], list[Any] | None]],
) -> tuple[list[dict[str, Any]], list[Any]]:
    """The events, and the extension @context entries of their capturing documents,
    merged for the query document; an event whose prefixes clash with another's
    carries its own @context."""
    urls: list[str] = []
    prefixes: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    for body, context in rows:
        own = False
        for entry in context or []:
            if isinstance(entry, str):
                if entry not in urls:
                    urls.append(entry)
            elif isinstance(entry, dict):
                for k, v in entry.items():
                    if k in prefixes and prefixes[k] != v:
                        own = True
                    else:
                        prefixes.setdefault(k, v)
        if own and "@context" not in body:
            events.append({"@context": context, **body})
        else:
            events.append(body)
    merged: list[Any] = [*urls]
    if prefixes:
        merged.append(prefixes)
    return events, merged
