"""Our own trace operations: each step writes its EPCIS 2.0 event through
:func:`cloud.trace.events.service.store_events` (the one way in), so nobody hand-writes
JSON-LD. ``harvest`` and ``process`` also register the lot they make
(:func:`cloud.trace.lots.service.create_lot`) in the same transaction; ``load`` and
``sell`` need a 合格证 where the lot's category requires one
(:func:`cloud.trace.certificates.commitment.require_certificate`). The caller commits
(and rolls back on an error: an :class:`~cloud.errors.ApiError` naming the field in
body terms, ``body.lots[0]``).

Idempotency: the same body again (same ``event_id``, or no ``event_id`` and the same
``time``: the same event hash) answers ``unchanged``; a ``harvest`` or ``process``
retried finds its lot registered and its event stored, and answers ``unchanged`` too.
The same ``event_id`` with other content is 409 (``body.event_id``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth.principal import Principal
from cloud.catalog.gln import LocationKey, digital_link
from cloud.catalog.gs1 import check_gln
from cloud.catalog.service import get_location
from cloud.catalog.storage import Location
from cloud.db import Database, utcnow
from cloud.errors import ApiError
from cloud.trace.certificates.commitment import require_certificate
from cloud.trace.epcis import event_hash, validate_event
from cloud.trace.epcis.identifiers import canonical_uri
from cloud.trace.events.service import EventsRefused, StoredEvent, store_events
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.lots.schemas import LotCreate, LotRef
from cloud.trace.lots.service import LotError, create_lot, get_lot, parents_of
from cloud.trace.lots.storage import TraceLot
from cloud.trace.operations import events
from cloud.trace.operations.events import CONTEXT, LotQty
from cloud.trace.operations.schemas import (
    HarvestOp,
    ItemsOp,
    LoadOp,
    OpBase,
    PackOp,
    ProcessOp,
    ReceiveOp,
    SellOp,
    StoreOp,
    TestOp,
)
from cloud.trace.results import service as results
from cloud.trace.results.schemas import checked_results

BEIJING = timezone(timedelta(hours=8))
#: roles in which an event names its objects as children of a parent (a container's
#: contents), and the deepest nesting followed (case in pallet in ...)
_CHILD_ROLES = ("child", "quantity")
_MAX_DEPTH = 8


@dataclass(frozen=True)
class OpOutcome:
    """``unchanged``: the same event_id and the same content again (nothing written)."""

    event_id: str
    outcome: Literal["stored", "unchanged"]
    event: dict[str, Any]
    lot: TraceLot | None = None


# ------------------------------------------------------------------------------ helpers


def _time(body: OpBase) -> datetime:
    return body.time if body.time is not None else utcnow().astimezone(BEIJING)


def location_uri(loc: Location) -> str:
    """A catalog location's GLN/SGLN as its GS1 Digital Link (what custody looks up)."""
    return digital_link(LocationKey(loc.gln, loc.gln_extension))


#: The kinds of catalog location a step may put its items in (a step not listed: any).
#: Storing in a vehicle or loading into a cold room would give custody a wrong place.
PLACE_KINDS: dict[str, frozenset[str]] = {
    "store": frozenset({"cold_room", "warehouse", "station", "processing_site"}),
    "load": frozenset({"vehicle_compartment"}),
}


async def _place(
    session: AsyncSession,
    location_id: int | None,
    principal: Principal,
    field: str,
    step: str | None = None,
) -> str | None:
    """The Digital Link of a location the principal can see; 404 naming ``field``; 422
    when the location is not of a kind ``step`` puts items in (:data:`PLACE_KINDS`)."""
    if location_id is None:
        return None
    loc = await get_location(session, location_id)
    if loc is None or not principal.can_see(loc.county):
        raise ApiError(404, f"{field}: location {location_id} not found", field=field)
    kinds = PLACE_KINDS.get(step or "")
    if kinds is not None and loc.kind not in kinds:
        raise ApiError(
            422,
            f"{field}: location {location_id} is a {loc.kind}; {step} puts items in a "
            + " or ".join(sorted(kinds)),
            field=field,
        )
    return location_uri(loc)


async def _lot(session: AsyncSession, ref: LotRef, principal: Principal, field: str) -> TraceLot:
    """A registered lot the principal may write (404 unseen, 403 not theirs)."""
    lot = await get_lot(session, ref.gtin, ref.lot, principal)
    if lot is None:
        raise ApiError(
            404,
            f"{field}: lot {ref.lot!r} of GTIN {ref.gtin} (register or harvest it first) not found",
            field=field,
        )
    _writable(lot, principal, field)
    return lot


def _writable(lot: TraceLot, principal: Principal, field: str) -> None:
    try:
        principal.require_write(lot.county, str(lot.org_id))
    except ApiError as exc:
        raise ApiError(
            exc.status_code,
            f"{field}: lot {lot.lot!r} of GTIN {lot.gtin}: {exc.detail}",
            field=field,
        ) from None


def _gln(gln: str | None, field: str) -> str | None:
    """A GLN as its Digital Link (as ``POST .../tests`` takes it); 422 naming ``field``."""
    if gln is None:
        return None
    try:
        return digital_link(LocationKey(check_gln(gln), ""))
    except ValueError as exc:
        raise ApiError(422, f"{field}: {exc}", field=field) from None


def _identify(event: dict[str, Any]) -> str:
    """The event's id: the client's, or its CBV 2.0 event hash (set into the event)."""
    if "eventID" not in event:
        event["eventID"] = event_hash(event, CONTEXT)
    return str(event["eventID"])


#: an event's field -> the body's field it came from
_BODY_FIELDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), body)
    for pattern, body in (
        (r"^eventID$", "body.event_id"),
        (r"^(?:eventTime|eventTimeZoneOffset)$", "body.time"),
        (r"^(?:child)?[qQ]uantityList\[(\d+)\]", r"body.lots[\1]"),
        (r"^(?:epcList|childEPCs)\[(\d+)\]", r"body.containers[\1]"),
        (r"^inputQuantityList\[(\d+)\]", r"body.inputs[\1]"),
        (r"^outputQuantityList\b", "body.output"),
        (r"^parentID$", "body.parent"),
        (r"^(?:readPoint|bizLocation)\b", "body.location_id"),
        (r"^dh:note$", "body.note"),
    )
)


def body_field(event_field: str) -> str:
    """The body's field an error of the stored event names (``eventList[0].quantityList[1]
    .epcClass`` -> ``body.lots[1]``); ``event.<field>`` when no body field made it."""
    field = re.sub(r"^(?:eventList\[\d+\])?\.?", "", event_field)
    for pattern, body in _BODY_FIELDS:
        found = pattern.match(field)
        if found:
            return found.expand(body)
    return f"event.{field}" if field else "event"


def _refused(exc: EventsRefused) -> ApiError:
    first = exc.errors[0]
    field = body_field(first.field)
    return ApiError(first.status, f"{field}: {first.reason}", field=field)


def _validated(event: dict[str, Any]) -> None:
    """The event's own checks before anything is written (422 naming the event field)."""
    found = validate_event(event, "", CONTEXT)
    if found:
        field = body_field(found[0].path)
        raise ApiError(422, f"{field}: {found[0].reason}", field=field)


async def _stored_event(session: AsyncSession, event_id: str) -> bool:
    return (
        await session.scalar(select(TraceEvent.seq).where(TraceEvent.event_id == event_id))
    ) is not None


async def _store(
    session: AsyncSession, event: dict[str, Any], principal: Principal, lot: TraceLot | None = None
) -> OpOutcome:
    try:
        (stored,) = await store_events(session, [event], principal, context=CONTEXT)
    except EventsRefused as exc:
        raise _refused(exc) from None
    return _outcome(stored, lot)


def _outcome(stored: StoredEvent, lot: TraceLot | None) -> OpOutcome:
    outcome: Literal["stored", "unchanged"] = (
        "unchanged" if stored.outcome == "unchanged" else "stored"
    )
    return OpOutcome(stored.event_id, outcome, stored.body, lot)


def _same(stored: Decimal | None, given: Decimal | None) -> bool:
    if stored is None or given is None:
        return stored is given
    return Decimal(str(stored)) == given


async def _made_lot(
    session: AsyncSession,
    create: LotCreate,
    event: dict[str, Any],
    principal: Principal,
    field: str,
) -> TraceLot:
    """The lot a harvest or process makes: registered now, or, when it exists, the lot
    of a retry (:func:`_retried`); otherwise the lot service's answer (404, 409 the lot
    exists, 422).

    A first attempt that commits between the look-up and the registration (PostgreSQL
    reads committed rows statement by statement) is met by looking again: the retry then
    finds that attempt's lot and event (a CI run answered 409 "lot exists" to such a
    retry)."""
    event_id = _identify(event)
    found = await _retried(session, create, principal, field, event_id)
    if found is not None:
        return found
    _validated(event)  # before the lot is written: nothing half-made
    try:
        return await create_lot(session, create, principal)
    except LotError as exc:
        if exc.status == 409:  # registered since the look-up: by a racing first attempt?
            found = await _retried(session, create, principal, field, event_id)
            if found is not None:
                return found
        where = exc.field or "body"
        if field != "body" and where.startswith("body."):
            where = field + where.removeprefix("body")
        raise ApiError(exc.status, f"{where}: {exc}", field=where) from None


async def _retried(
    session: AsyncSession, create: LotCreate, principal: Principal, field: str, event_id: str
) -> TraceLot | None:
    """The lot of a retry, if ``create`` names one: the lot exists, with its event stored
    under ``event_id``, the same organisation, quantity and unit; None otherwise (409
    when the lot does not exist but ``event_id`` names a stored event)."""
    existing = await session.scalar(
        select(TraceLot).where(TraceLot.gtin == create.gtin, TraceLot.lot == create.lot)
    )
    if existing is None:
        if await _stored_event(session, event_id):
            raise ApiError(
                409,
                f"body.event_id: eventID {event_id} names a stored event with other content; a "
                "new event needs its own eventID",
                field="body.event_id",
            )
        return None
    retry = (
        principal.can_see(existing.county)
        and existing.org_id == create.org_id
        and _same(existing.quantity, create.quantity)
        and existing.unit == create.unit
        and await _stored_event(session, event_id)
    )
    if not retry:
        return None
    _writable(existing, principal, field)
    return existing


async def _items(
    session: AsyncSession, body: ItemsOp, principal: Principal
) -> tuple[list[tuple[TraceLot, LotQty]], list[str]]:
    lots = []
    for i, item in enumerate(body.lots):
        lot = await _lot(session, item, principal, f"body.lots[{i}]")
        lots.append((lot, LotQty(lot.gtin, lot.lot, item.quantity, item.unit)))
    return lots, list(body.containers)


async def contents(session: AsyncSession, container: str) -> list[TraceLot]:
    """The lots packed into ``container`` (or into containers inside it, 8 levels), as
    the stored events name them (unpacking not subtracted: a lot once packed in it
    counts)."""
    found: dict[int, TraceLot] = {}
    seen: set[str] = set()
    todo = {canonical_uri(container)}
    for _ in range(_MAX_DEPTH):
        todo -= seen
        if not todo:
            break
        seen |= todo
        seqs = (
            select(TraceEventObject.event_seq)
            .where(TraceEventObject.uri.in_(todo), TraceEventObject.role == "parent")
            .scalar_subquery()
        )
        rows = await session.execute(
            select(TraceEventObject.uri, TraceEventObject.gtin, TraceEventObject.lot).where(
                TraceEventObject.event_seq.in_(seqs), TraceEventObject.role.in_(_CHILD_ROLES)
            )
        )
        todo = set()
        keys = set()
        for uri, gtin, number in rows:
            if gtin is not None and number is not None:
                keys.add((gtin, number))
            else:
                todo.add(uri)
        for gtin, number in keys:
            lot = await session.scalar(
                select(TraceLot).where(TraceLot.gtin == gtin, TraceLot.lot == number)
            )
            if lot is not None:
                found[lot.id] = lot
    return list(found.values())


async def _require_certificates(
    session: AsyncSession,
    lots: Sequence[tuple[TraceLot, LotQty]],
    containers: Sequence[str],
    at: datetime,
) -> None:
    """422 naming the item whose lot needs a 合格证 issued at or before ``at``."""
    checks: list[tuple[TraceLot, str]] = [
        (lot, f"body.lots[{i}]") for i, (lot, _) in enumerate(lots)
    ]
    for j, container in enumerate(containers):
        checks.extend((lot, f"body.containers[{j}]") for lot in await contents(session, container))
    for lot, field in checks:
        try:
            await require_certificate(session, lot, at)
        except ApiError as exc:
            raise ApiError(exc.status_code, f"{field}: {exc.detail}", field=field) from None


def _extra(**fields: Any) -> dict[str, Any]:
    return {events.ext(k): v for k, v in fields.items() if v is not None}


# ---------------------------------------------------------------------------- the steps


async def harvest(session: AsyncSession, body: HarvestOp, principal: Principal) -> OpOutcome:
    """Register the lot and its commissioning ObjectEvent (ADD), in one transaction."""
    time = _time(body)
    place = await _place(session, body.location_id, principal, "body.location_id")
    event = events.object_event(
        "harvest", time=time, lots=[LotQty(body.gtin, body.lot, body.quantity, body.unit)],
        place=place, event_id=body.event_id, note=body.note,
    )  # fmt: skip
    create = LotCreate(
        gtin=body.gtin,
        lot=body.lot,
        org_id=body.org_id,
        quantity=body.quantity,
        unit=body.unit,
        origin_base_id=body.origin_base_id,
        produced_on=body.produced_on or time.astimezone(BEIJING).date(),
    )
    lot = await _made_lot(session, create, event, principal, "body")
    return await _store(session, event, principal, lot)


def _common(values: set[int | None]) -> int | None:
    """The one value all share, or None."""
    return next(iter(values)) if len(values) == 1 else None


async def process(session: AsyncSession, body: ProcessOp, principal: Principal) -> OpOutcome:
    """Register the output lot (the inputs its parents) and the TransformationEvent."""
    time = _time(body)
    place = await _place(session, body.location_id, principal, "body.location_id")
    inputs: list[tuple[TraceLot, LotQty]] = []
    out = body.output
    for i, item in enumerate(body.inputs):
        field = f"body.inputs[{i}]"
        if (item.gtin, item.lot) == (out.gtin, out.lot):
            raise ApiError(422, f"{field}: the output lot cannot be one of its inputs", field=field)
        lot = await _lot(session, item, principal, field)
        inputs.append((lot, LotQty(lot.gtin, lot.lot, item.quantity, item.unit)))
    org_id = out.org_id if out.org_id is not None else inputs[0][0].org_id
    county = inputs[0][0].county
    for i, (lot, _) in enumerate(inputs):
        if lot.county != county:
            field = f"body.inputs[{i}]"
            raise ApiError(
                422,
                f"{field}: lot {lot.lot!r} is of county {lot.county}, the first input of "
                f"{county}; a transformation's lots are of one county",
                field=field,
            )
    event = events.transformation_event(
        time=time, inputs=[q for _, q in inputs],
        output=LotQty(out.gtin, out.lot, out.quantity, out.unit), process=body.process,
        place=place, event_id=body.event_id, note=body.note,
    )  # fmt: skip
    create = LotCreate(
        gtin=out.gtin,
        lot=out.lot,
        org_id=org_id,
        quantity=out.quantity,
        unit=out.unit,
        produced_on=time.astimezone(BEIJING).date(),
        # the inputs' origin when they share one (green beans of one plantation's
        # cherries still come from that plantation; a blend of bases has none)
        origin_base_id=_common({lot.origin_base_id for lot, _ in inputs}),
        parents=[LotRef(gtin=lot.gtin, lot=lot.lot) for lot, _ in inputs],
    )
    made = await _made_lot(session, create, event, principal, "body.output")
    if made.county != county:
        raise ApiError(
            422,
            f"body.output.org_id: the output's organisation is of county {made.county}, the "
            f"inputs of {county}; a transformation's lots are of one county",
            field="body.output.org_id",
        )
    return await _store(session, event, principal, made)


async def pack(session: AsyncSession, body: PackOp, principal: Principal) -> OpOutcome:
    """An AggregationEvent ADD: the lots and containers into the case or pallet."""
    if canonical_uri(body.parent) in {canonical_uri(c) for c in body.containers}:
        raise ApiError(422, "body.parent: a container cannot be packed into itself",
                       field="body.parent")  # fmt: skip
    place = await _place(session, body.location_id, principal, "body.location_id")
    lots, containers = await _items(session, body, principal)
    event = events.aggregation_event(
        time=_time(body), parent=body.parent, lots=[q for _, q in lots], containers=containers,
        place=place, event_id=body.event_id, note=body.note,
    )  # fmt: skip
    return await _store(session, event, principal)


async def test(session: AsyncSession, body: TestOp, principal: Principal) -> OpOutcome:
    """Test results of a lot: the results service's inspecting/sampling event."""
    found = checked_results(body.biz_step, body.results)
    lot = await _lot(session, body.lot, principal, "body.lot")
    place = await _place(session, body.location_id, principal, "body.location_id")
    read_point = _gln(body.read_point_gln, "body.read_point_gln") or place
    biz_location = _gln(body.biz_location_gln, "body.biz_location_gln") or place
    try:
        stored = await results.record_tests(
            session, lot, found, principal, biz_step=body.biz_step, time=_time(body),
            read_point=read_point, biz_location=biz_location, event_id=body.event_id,
            extra=_extra(note=body.note),
        )  # fmt: skip
    except EventsRefused as exc:
        raise _refused(exc) from None
    return _outcome(stored, None)


test.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


async def _observe(
    session: AsyncSession,
    step: str,
    body: ItemsOp,
    principal: Principal,
    *,
    certificate: bool = False,
    sources: list[dict[str, str]] | None = None,
    destinations: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> OpOutcome:
    time = _time(body)
    place = await _place(session, body.location_id, principal, "body.location_id", step)
    lots, containers = await _items(session, body, principal)
    if certificate:
        await _require_certificates(session, lots, containers, time)
    event = events.object_event(
        step, time=time, lots=[q for _, q in lots], containers=containers, place=place,
        event_id=body.event_id, note=body.note, sources=sources, destinations=destinations,
        extra=extra,
    )  # fmt: skip
    return await _store(session, event, principal)


async def store(session: AsyncSession, body: StoreOp, principal: Principal) -> OpOutcome:
    """storing at the room or warehouse: custody puts the items there."""
    return await _observe(session, "store", body, principal)


async def load(session: AsyncSession, body: LoadOp, principal: Principal) -> OpOutcome:
    """loading onto the vehicle compartment (in_transit); needs a 合格证 where required."""
    to = await _place(session, body.destination_id, principal, "body.destination_id")
    destinations = events.location_list("destination", to) if to is not None else None
    return await _observe(
        session, "load", body, principal, certificate=True, destinations=destinations
    )


async def receive(session: AsyncSession, body: ReceiveOp, principal: Principal) -> OpOutcome:
    """receiving at the receiver's location."""
    came = await _place(session, body.source_id, principal, "body.source_id")
    sources = events.location_list("source", came) if came is not None else None
    return await _observe(session, "receive", body, principal, sources=sources)


async def sell(session: AsyncSession, body: SellOp, principal: Principal) -> OpOutcome:
    """retail_selling (retail_sold); needs a 合格证 where required."""
    return await _observe(
        session, "sell", body, principal, certificate=True,
        extra=_extra(buyer=body.buyer, order=body.order),
    )  # fmt: skip


#: step -> its service function
OPERATIONS = {
    "harvest": harvest,
    "process": process,
    "pack": pack,
    "test": test,
    "store": store,
    "load": load,
    "receive": receive,
    "sell": sell,
}


async def perform(
    db: Database, step: str, body: OpBase, principal: Principal
) -> tuple[OpOutcome, list[tuple[str, str]]]:
    """Run ``step`` in a transaction of its own (the API and the command): the outcome
    and the made lot's parents. Two retries racing (the phone sending a step twice at
    once) meet at the lot's unique key: the loser runs again and finds the winner's lot
    and event (``unchanged``)."""
    for attempt in range(2):
        try:
            async with db.transaction() as s:
                done = await OPERATIONS[step](s, body, principal)  # type: ignore[operator]
                parents = [] if done.lot is None else await lot_parents(s, done.lot)
            return done, parents
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


async def lot_parents(session: AsyncSession, lot: TraceLot) -> list[tuple[str, str]]:
    return (await parents_of(session, [lot.id]))[lot.id]
