"""The machinery of :func:`cloud.trace.events.service.store_events`: prepare each event,
check its lots and county, decide it against what is stored, write (see the service's
docstring for the rules)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth import policy
from cloud.auth.principal import Principal
from cloud.db.upsert import dialect_insert
from cloud.errors import ApiError
from cloud.trace.epcis import event_hash, validate_event
from cloud.trace.events import hooks
from cloud.trace.events.log import append_to_log, declaration_leaf_id
from cloud.trace.events.objects import Named, cbv_word, location, named_objects
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.lots.service import LotOwner, lot_owners, our_gtins

Outcome = Literal["stored", "unchanged", "declared"]
Behaviour = Literal["rollback", "proceed"]

#: a stored body's fields that are ours (set at capture), not the client's
OURS = ("recordTime",)
#: ids looked up per query
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: ``body`` is what queries return (with any errorDeclaration).
    ``outcome``: ``stored`` (new), ``unchanged`` (captured before: nothing changed) or
    ``declared`` (the stored event's error declaration was added)."""

    event_id: str
    body: dict[str, Any]
    county: str
    record_time: datetime
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class EventError:
    """Why event ``index`` of the list was refused: ``field`` is the path of the input
    at fault (``epcisBody.eventList[3].bizStep``); ``status`` 422 (invalid), 409
    (conflicts with a stored event), 403 (not the principal's to write)."""

    index: int | None
    field: str
    reason: str
    status: int = 422
    event_id: str | None = None


class EventsRefused(Exception):
    """The list was refused; nothing was stored."""

    def __init__(self, errors: list[EventError]) -> None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first.field}: {first.reason}{more}")
        self.errors = errors


@dataclass(slots=True)
class StoreOutcome:
    """``stored`` in list order (refused events left out); ``errors`` of the others."""

    stored: list[StoredEvent] = field(default_factory=list)
    errors: list[EventError] = field(default_factory=list)
    #: with ``store(defer_log=True)``: the (log key, event) pairs the caller appends to
    #: the log (:func:`cloud.trace.events.log.append_to_log`) last, before it commits
    log_entries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass(slots=True)
class _Prepared:
    index: int
    path: str
    event_id: str
    #: as stored, without recordTime (added when written) and errorDeclaration
    body: dict[str, Any]
    #: the errorDeclaration this list gives the event, if any
    declaration: dict[str, Any] | None
    event_time: datetime
    objects: list[Named]
    county: str = ""
    outcome: Outcome | None = None
    #: the stored event of the same eventID (its seq and declaration), if any
    existing_seq: int | None = None
    stored_declaration: dict[str, Any] | None = None
    stored_county: str | None = None

    @property
    def effective_declaration(self) -> dict[str, Any] | None:
        """The declaration the event has once this list is stored."""
        return (
            self.declaration
            if self.outcome in ("stored", "declared")
            else (self.stored_declaration)
        )


def record_time_text(t: datetime) -> str:
    """``2026-01-01T08:00:00.123Z``: recordTime as we write it (UTC, milliseconds)."""
    t = t.astimezone(UTC)
    return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z"


def parse_time(value: Any) -> datetime:
    """An xsd:dateTime with its offset, as a UTC datetime; ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError("a time is a string (xsd:dateTime with its offset)")
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an xsd:dateTime (2026-01-01T08:00:00.000+08:00)"
        ) from None
    if t.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone offset (Z or +hh:mm)")
    return t.astimezone(UTC)


#: GS1's context (current and former URL); the other entries of a document's @context
#: are its extensions (namespace prefixes of extension fields).
STANDARD_CONTEXT = re.compile(r"^https://(ref\.gs1\.org|gs1\.github\.io)/.*epcis-context\.jsonld$")


def extension_context(context: list[Any] | None) -> list[Any]:
    """A document's @context without GS1's own: what its events' extension fields need."""
    return [
        e
        for e in context or []
        if e is not None and not (isinstance(e, str) and STANDARD_CONTEXT.match(e))
    ]


def returned_body(body: dict[str, Any], declaration: dict[str, Any] | None) -> dict[str, Any]:
    """The event as returned: the stored body, and its error declaration if any."""
    return body if declaration is None else {**body, "errorDeclaration": declaration}


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in OURS and k != "errorDeclaration"}


async def store(
    session: AsyncSession,
    events: Sequence[dict[str, Any]],
    principal: Principal,
    *,
    path: str,
    context: list[Any] | None,
    validate: bool,
    behaviour: Behaviour,
    capture_id: str | None,
    refused: set[int] | None = None,
    defer_log: bool = False,
) -> StoreOutcome:
    """Check every event, then write (rollback: only when none has an error).

    The log append locks the log's one state row until the transaction ends, so it comes
    last; ``defer_log``: not done here but left to the caller (``log_entries``), which
    writes what else it has first (the capture job's outcome) and appends just before
    committing, so that concurrent captures wait for each other as briefly as can be."""
    errors: list[EventError] = []
    bad: set[int] = set(refused or ())
    prepared: list[_Prepared] = []
    for i, event in enumerate(events):
        if i in bad:
            continue
        where = f"{path}[{i}]"
        if validate:
            found = validate_event(event, where)
            if found:
                errors.extend(EventError(i, e.path, e.reason) for e in found)
                bad.add(i)
                continue
        extension = hooks.check_event(event, where, context) if isinstance(event, dict) else []
        if extension:
            errors.extend(EventError(i, f, r) for f, r in extension)
            bad.add(i)
            continue
        try:
            prepared.append(_prepare(i, where, event, context))
        except ValueError as exc:
            errors.append(EventError(i, f"{where}.eventTime", str(exc)))
            bad.add(i)
    if errors and behaviour == "rollback":
        return StoreOutcome(errors=errors)

    for check in (_check_lots, _against_stored):
        found_errors = await check(session, prepared, principal)
        errors.extend(found_errors)
        bad |= {e.index for e in found_errors if e.index is not None}
        if errors and behaviour == "rollback":
            return StoreOutcome(errors=errors)
        prepared = [p for p in prepared if p.index not in bad]

    stored, leaves = await _write(session, prepared, principal, context, capture_id)
    if not defer_log:
        await append_to_log(session, leaves)
        leaves = []
    errors.sort(key=lambda e: -1 if e.index is None else e.index)
    return StoreOutcome(stored=stored, errors=errors, log_entries=leaves)


def _prepare(index: int, where: str, event: dict[str, Any], context: list[Any] | None) -> _Prepared:
    body = dict(event)  # a new top level: eventID and recordTime are added to it
    declaration = body.pop("errorDeclaration", None)
    for key in OURS:
        body.pop(key, None)
    event_id = body.get("eventID")
    if not isinstance(event_id, str) or not event_id:
        event_id = event_hash(body, context)
        body = {"eventID": event_id, **body}
    return _Prepared(
        index=index,
        path=where,
        event_id=event_id,
        body=body,
        declaration=declaration if isinstance(declaration, dict) else None,
        event_time=parse_time(body.get("eventTime")),
        objects=named_objects(body),
    )


async def _check_lots(
    session: AsyncSession, prepared: list[_Prepared], principal: Principal
) -> list[EventError]:
    """Set each event's county from the lots it names; errors for unknown lots of our
    GTINs, lots of two counties, and lots the principal may not write."""
    gtins = {o.gtin for p in prepared for o in p.objects if o.gtin is not None}
    ours = await our_gtins(session, gtins)
    keys = {
        (o.gtin, o.lot)
        for p in prepared
        for o in p.objects
        if o.gtin in ours and o.gtin is not None and o.lot is not None
    }
    lots = await lot_owners(session, keys)
    errors: list[EventError] = []
    for p in prepared:
        named: list[tuple[Named, LotOwner]] = []
        unknown = False
        for o in p.objects:
            if o.gtin not in ours or o.gtin is None or o.lot is None:
                continue
            lot = lots.get((o.gtin, o.lot))
            if lot is None:
                unknown = True
                errors.append(
                    EventError(
                        p.index,
                        f"{p.path}.{o.path}",
                        f"lot {o.lot!r} of GTIN {o.gtin} is not registered, and we keep the "
                        "lots of that GTIN: register the lot (POST /api/v1/trace/lots) before "
                        "naming it in an event",
                        422,
                        p.event_id,
                    )
                )
            else:
                named.append((o, lot))
        if not unknown:
            error = _county_of(p, named, principal)
            if error is not None:
                errors.append(error)
    return errors


def _county_of(
    p: _Prepared, named: list[tuple[Named, LotOwner]], principal: Principal
) -> EventError | None:
    """The event's county: its lots' (one county, writable), or the principal's."""
    if not named:
        try:
            policy.check_write_scope(principal, principal.county, principal.org_id)
        except ApiError as exc:
            return EventError(p.index, p.path, str(exc.detail), exc.status_code, p.event_id)
        p.county = principal.county
        return None
    first_obj, first = named[0]
    for o, lot in named[1:]:
        if lot.county != first.county:
            return EventError(
                p.index,
                f"{p.path}.{o.path}",
                f"this event names lots of counties {first.county} ({first_obj.path}) and "
                f"{lot.county}; an event belongs to one county: record one event per county",
                422,
                p.event_id,
            )
    for o, lot in named:
        try:
            policy.check_write_scope(principal, lot.county, str(lot.org_id))
        except ApiError as exc:
            return EventError(
                p.index,
                f"{p.path}.{o.path}",
                f"lot {lot.lot!r} of GTIN {lot.gtin}: {exc.detail}",
                exc.status_code,
                p.event_id,
            )
    p.county = first.county
    return None


async def _against_stored(
    session: AsyncSession, prepared: list[_Prepared], principal: Principal
) -> list[EventError]:
    """Decide each event's outcome against what is stored and the events before it in
    the same list; 409 errors for conflicts, 403 for declaring another county's event."""
    ids = list(dict.fromkeys(p.event_id for p in prepared))
    stored: dict[str, tuple[int, dict[str, Any], dict[str, Any] | None, str]] = {}
    for start in range(0, len(ids), _CHUNK):
        q = select(
            TraceEvent.event_id,
            TraceEvent.seq,
            TraceEvent.body,
            TraceEvent.error_declaration,
            TraceEvent.county,
        ).where(TraceEvent.event_id.in_(ids[start : start + _CHUNK]))
        for event_id, seq, body, declaration, county in await session.execute(q):
            stored[event_id] = (seq, body, declaration, county)
    errors: list[EventError] = []
    first_of: dict[str, _Prepared] = {}
    for p in prepared:
        before = first_of.get(p.event_id)
        if before is not None:
            # the same eventID earlier in this list: the later one changes nothing, or
            # adds the declaration to the earlier one
            error = _decide(p, before.body, before.effective_declaration)
            if error is None and p.outcome == "declared":
                error = _may_declare(p, before.stored_county, principal)
            if error is None and p.outcome == "declared":
                before.declaration = p.declaration
                if before.outcome == "unchanged":
                    before.outcome = "declared"
                p.outcome = "unchanged"
        elif p.event_id in stored:
            p.existing_seq, body, p.stored_declaration, p.stored_county = stored[p.event_id]
            error = _decide(p, body, p.stored_declaration)
            if error is None and p.outcome == "declared":
                error = _may_declare(p, p.stored_county, principal)
            first_of[p.event_id] = p
        else:
            p.outcome = "stored"
            error = None
            first_of[p.event_id] = p
        if error is not None:
            errors.append(error)
    return errors


def _may_declare(p: _Prepared, county: str | None, principal: Principal) -> EventError | None:
    """An error declaration is a write in the stored event's county."""
    if county is None:  # the event is new in this list: its county was checked
        return None
    try:
        policy.check_write_scope(principal, county, principal.org_id)
    except ApiError as exc:
        return EventError(
            p.index,
            f"{p.path}.errorDeclaration",
            f"event {p.event_id} is not yours to declare: {exc.detail}",
            exc.status_code,
            p.event_id,
        )
    return None


def _decide(
    p: _Prepared, body: dict[str, Any], declaration: dict[str, Any] | None
) -> EventError | None:
    if _comparable(body) != _comparable(p.body):
        return EventError(
            p.index,
            f"{p.path}.eventID",
            f"eventID {p.event_id} names a stored event with other content; a new event "
            "needs its own eventID (an error declaration repeats the stored event exactly, "
            "adding only errorDeclaration)",
            409,
            p.event_id,
        )
    if p.declaration is None or p.declaration == declaration:
        p.outcome = "unchanged"
        return None
    if declaration is not None:
        return EventError(
            p.index,
            f"{p.path}.errorDeclaration",
            f"event {p.event_id} already has another error declaration; a declaration is "
            "never changed",
            409,
            p.event_id,
        )
    p.outcome = "declared"
    return None


def _row(
    p: _Prepared,
    now: datetime,
    principal: Principal,
    context: list[Any] | None,
    capture_id: str | None,
) -> dict[str, Any]:
    action = p.body.get("action")
    return {
        "event_id": p.event_id,
        "event_type": str(p.body.get("type", ""))[:32],
        "event_time": p.event_time,
        "event_tz_offset": str(p.body.get("eventTimeZoneOffset", ""))[:6],
        "record_time": now,
        "county": p.county,
        "action": action if isinstance(action, str) else None,
        "biz_step": cbv_word(p.body.get("bizStep"), "bizStep"),
        "disposition": cbv_word(p.body.get("disposition"), "disposition"),
        "read_point": location(p.body.get("readPoint")),
        "biz_location": location(p.body.get("bizLocation")),
        "body": p.body,
        "context": extension_context(context) or None,
        "error_declaration": p.declaration,
        "declared_at": declared_at(p.declaration),
        "error_reason": error_reason(p.declaration),
        "capture_id": capture_id,
        "created_by": principal.actor[:128],
    }


def _postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


#: The columns of ``trace_events`` a capture writes, and their PostgreSQL types.
_EVENT_COLUMNS = (
    ("event_id", "text"), ("event_type", "text"), ("event_time", "timestamptz"),
    ("event_tz_offset", "text"), ("record_time", "timestamptz"), ("county", "text"),
    ("action", "text"), ("biz_step", "text"), ("disposition", "text"),
    ("read_point", "text"), ("biz_location", "text"), ("body", "json"), ("context", "json"),
    ("error_declaration", "json"), ("declared_at", "timestamptz"), ("error_reason", "text"),
    ("capture_id", "text"), ("created_by", "text"),
)  # fmt: skip

#: PostgreSQL: the events and the identifiers they name in one statement, the rows as
#: two JSON parameters (``json_to_recordset``): one statement text whatever the number
#: of events, so the driver parses it once and the server prepares it (a multi-row
#: VALUES of 18 parameters a row was a new text per batch size, parsed each time), and
#: the rows serialised in one ``orjson.dumps``. An event stored by a concurrent capture
#: since we looked is left out (ON CONFLICT DO NOTHING), with its identifiers (the join).
_PG_INSERT = text(
    "WITH ev AS (INSERT INTO trace_events ("
    + ", ".join(c for c, _ in _EVENT_COLUMNS)
    + ") SELECT "
    + ", ".join(c for c, _ in _EVENT_COLUMNS)
    + " FROM json_to_recordset(CAST(:events AS json)) AS r("
    + ", ".join(f"{c} {t}" for c, t in _EVENT_COLUMNS)
    + ", n int) ORDER BY r.n ON CONFLICT (event_id) DO NOTHING RETURNING event_id, seq), "
    "obj AS (INSERT INTO trace_event_objects (event_seq, role, uri, gtin, lot) "
    "SELECT ev.seq, o.role, o.uri, o.gtin, o.lot FROM json_to_recordset(CAST(:objects AS "
    "json)) AS o(event_id text, role text, uri text, gtin text, lot text, n int) "
    "JOIN ev ON ev.event_id = o.event_id ORDER BY o.n) "
    "SELECT event_id, seq FROM ev"
)


def _json_text(value: Any) -> str:
    """``value`` as JSON text (datetimes as RFC 3339)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # e.g. an integer beyond 64 bits (our own operations' events)
        return json.dumps(value, default=lambda v: v.isoformat())


async def _insert_pg(
    session: AsyncSession, rows: list[dict[str, Any]], new: list[_Prepared]
) -> dict[str, int]:
    """Insert the events and their identifiers; eventID -> seq of those inserted."""
    events = [{**r, "n": i} for i, r in enumerate(rows)]
    objects = [
        {"event_id": p.event_id, "role": o.role, "uri": o.uri, "gtin": o.gtin, "lot": o.lot}
        for p in new
        for o in p.objects
    ]
    for i, o in enumerate(objects):
        o["n"] = i
    result = await session.execute(
        _PG_INSERT, {"events": _json_text(events), "objects": _json_text(objects)}
    )
    return {str(event_id): int(seq) for event_id, seq in result}


async def _write(
    session: AsyncSession,
    prepared: list[_Prepared],
    principal: Principal,
    context: list[Any] | None,
    capture_id: str | None,
) -> tuple[list[StoredEvent], list[tuple[str, dict[str, Any]]]]:
    """Write; the stored events, and the (log key, event) pairs to append to the log."""
    now = datetime.now(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    stamp = record_time_text(now)
    new = [p for p in prepared if p.outcome == "stored"]
    for p in new:
        p.body["recordTime"] = stamp
    seqs: dict[str, int] = {}
    rows = [_row(p, now, principal, context, capture_id) for p in new]
    if new and _postgres(session):
        seqs = await _insert_pg(session, rows, new)
    elif new:
        # Core inserts (the table, not the mapped class): no ORM bookkeeping per row
        ins = dialect_insert(session, TraceEvent.__table__).on_conflict_do_nothing(
            index_elements=["event_id"]
        )
        result = await session.execute(
            ins.returning(TraceEvent.__table__.c.event_id, TraceEvent.__table__.c.seq), rows
        )
        seqs = {str(event_id): int(seq) for event_id, seq in result}
        objects = [
            {"event_seq": seqs[p.event_id], "role": o.role, "uri": o.uri, "gtin": o.gtin,
             "lot": o.lot}
            for p in new
            if p.event_id in seqs
            for o in p.objects
        ]  # fmt: skip
        if objects:
            await session.execute(dialect_insert(session, TraceEventObject.__table__), objects)
    raced = [p for p in new if p.event_id not in seqs]
    if raced:
        # stored by a concurrent capture since we looked: decide against that one now
        for p in raced:
            p.body.pop("recordTime", None)
        errors = await _against_stored(session, raced, principal)
        if errors:
            raise EventsRefused(errors)

    out: dict[int, StoredEvent] = {}
    leaves: list[tuple[str, dict[str, Any]]] = []
    for p in prepared:
        if p.outcome == "stored" and p.event_id in seqs:
            body = returned_body(p.body, p.declaration)
            out[p.index] = StoredEvent(p.event_id, body, p.county, now, "stored")
            leaves.append((p.event_id, body))
        elif p.outcome == "declared":
            out[p.index] = await _declare(session, p)
            leaves.append((declaration_leaf_id(p.event_id), out[p.index].body))
        else:
            out[p.index] = await _unchanged(session, p)
    await _audit(session, principal, capture_id, list(out.values()))
    result = [out[i] for i in sorted(out)]
    await hooks.after_store(session, result, context)
    # the log append comes last (see store): it serialises appends until this
    # transaction ends (the leaf index of an event is in trace_log_leaves, by eventID)
    return result, leaves


async def _audit(
    session: AsyncSession,
    principal: Principal,
    capture_id: str | None,
    stored: list[StoredEvent],
) -> None:
    """One audit entry per county the list wrote in."""
    for county in sorted({s.county for s in stored if s.outcome != "unchanged"}):
        mine = [s for s in stored if s.county == county]
        await record(
            session,
            principal.actor,
            "epcis.events_stored",
            f"capture:{capture_id}" if capture_id else "epcis:events",
            county,
            {
                "stored": sum(1 for s in mine if s.outcome == "stored"),
                "declared": sum(1 for s in mine if s.outcome == "declared"),
                "event_ids": [s.event_id for s in mine if s.outcome != "unchanged"][:20],
            },
        )


def declared_at(declaration: dict[str, Any] | None) -> datetime | None:
    """The declaration's declarationTime (UTC), if it has a readable one."""
    if declaration is None:
        return None
    try:
        return parse_time(declaration.get("declarationTime"))
    except ValueError:
        return None


def error_reason(declaration: dict[str, Any] | None) -> str | None:
    return None if declaration is None else cbv_word(declaration.get("reason"), "errorReason")


async def _declare(session: AsyncSession, p: _Prepared) -> StoredEvent:
    """Add the declaration beside the stored event (the event itself is not touched)."""
    result = await session.execute(
        update(TraceEvent)
        .where(TraceEvent.event_id == p.event_id, TraceEvent.error_declaration.is_(None))
        .values(
            error_declaration=p.declaration,
            declared_at=declared_at(p.declaration),
            error_reason=error_reason(p.declaration),
        )
        .returning(TraceEvent.body, TraceEvent.county, TraceEvent.record_time)
    )
    row = result.one_or_none()
    if row is None:  # declared by a concurrent capture since we looked
        raise EventsRefused(
            [
                EventError(
                    p.index,
                    f"{p.path}.errorDeclaration",
                    f"event {p.event_id} was declared by another capture meanwhile; "
                    "capture again to see the outcome",
                    409,
                    p.event_id,
                )
            ]
        )
    body, county, record_time = row
    return StoredEvent(
        p.event_id, returned_body(body, p.declaration), county, record_time, "declared"
    )


async def _unchanged(session: AsyncSession, p: _Prepared) -> StoredEvent:
    """The stored event (this list changed nothing of it)."""
    row = (
        await session.execute(
            select(
                TraceEvent.body,
                TraceEvent.error_declaration,
                TraceEvent.county,
                TraceEvent.record_time,
            ).where(TraceEvent.event_id == p.event_id)
        )
    ).one()
    body, declaration, county, record_time = row
    return StoredEvent(
        p.event_id, returned_body(body, declaration), county, record_time, "unchanged"
    )
