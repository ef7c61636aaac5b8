"""The EPCIS 2.0 events our own operations record, built from plain values (pure: no
database). Lots travel as classes (``quantityList`` with the lot's Digital Link),
containers as instances (``epcList``, ``childEPCs``, ``parentID``), places as the
location's GLN/SGLN Digital Link in ``readPoint`` and ``bizLocation`` (what custody
reads). Every bizStep and disposition word here is a CBV 2.0 word (checked against the
vendored vocabulary by tests/cloud/test_trace_operations.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from cloud.trace.epcis.documents import DH_CONTEXT, DH_PREFIX
from cloud.trace.epcis.identifiers import dl_uri
from cloud.trace.epcis.times import event_time_fields

#: the extension namespace of our fields (``dh:note``, ``dh:process``, ...)
CONTEXT: list[Any] = [DH_CONTEXT]


@dataclass(frozen=True, slots=True)
class Vocab:
    """The event type, action, bizStep and disposition of one step."""

    event_type: str
    action: str | None
    biz_step: str
    disposition: str | None


#: step -> its words (the README's "Operations" table)
STEP_VOCAB: dict[str, Vocab] = {
    "harvest": Vocab("ObjectEvent", "ADD", "commissioning", "active"),
    "process": Vocab("TransformationEvent", None, "commissioning", "active"),
    "pack": Vocab("AggregationEvent", "ADD", "packing", "in_progress"),
    "test": Vocab("ObjectEvent", "OBSERVE", "inspecting", None),  # or sampling
    "store": Vocab("ObjectEvent", "OBSERVE", "storing", "sellable_not_accessible"),
    "load": Vocab("ObjectEvent", "OBSERVE", "loading", "in_transit"),
    "receive": Vocab("ObjectEvent", "OBSERVE", "receiving", "in_progress"),
    "sell": Vocab("ObjectEvent", "OBSERVE", "retail_selling", "retail_sold"),
}


@dataclass(frozen=True, slots=True)
class LotQty:
    """A lot named in an event, with its quantity (and unit) when known."""

    gtin: str
    lot: str
    quantity: Decimal | None = None
    unit: str | None = None


def number(q: Decimal) -> int | float:
    """A quantity as JSON: an integer when whole (500, not 500.0)."""
    return int(q) if q == q.to_integral_value() else float(q)


def quantity_element(item: LotQty) -> dict[str, Any]:
    element: dict[str, Any] = {"epcClass": dl_uri(item.gtin, item.lot)}
    if item.quantity is not None:
        element["quantity"] = number(item.quantity)
        if item.unit is not None:
            element["uom"] = item.unit
    return element


def ext(name: str) -> str:
    return f"{DH_PREFIX}:{name}"


def _head(step: str, time: datetime, event_id: str | None) -> dict[str, Any]:
    vocab = STEP_VOCAB[step]
    event: dict[str, Any] = {"eventID": event_id} if event_id is not None else {}
    event["type"] = vocab.event_type
    event.update(event_time_fields(time))
    return event


def _tail(
    event: dict[str, Any],
    step: str,
    place: str | None,
    note: str | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    vocab = STEP_VOCAB[step]
    event["bizStep"] = vocab.biz_step
    if vocab.disposition is not None:
        event["disposition"] = vocab.disposition
    if place is not None:
        event["readPoint"] = {"id": place}
        event["bizLocation"] = {"id": place}
    for key, value in (extra or {}).items():
        if value is not None:
            event[key] = value
    if note is not None:
        event[ext("note")] = note
    return event


def object_event(
    step: str,
    *,
    time: datetime,
    lots: list[LotQty],
    containers: list[str] = (),  # type: ignore[assignment]
    place: str | None = None,
    event_id: str | None = None,
    note: str | None = None,
    sources: list[dict[str, str]] | None = None,
    destinations: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """harvest (ADD), store, load, receive, sell (OBSERVE): the containers in epcList,
    the lots in quantityList."""
    event = _head(step, time, event_id)
    event["epcList"] = list(containers)
    action = STEP_VOCAB[step].action
    assert action is not None
    event["action"] = action
    if lots:
        event["quantityList"] = [quantity_element(i) for i in lots]
    if sources:
        event["sourceList"] = sources
    if destinations:
        event["destinationList"] = destinations
    return _tail(event, step, place, note, extra)


def transformation_event(
    *,
    time: datetime,
    inputs: list[LotQty],
    output: LotQty,
    process: str,
    place: str | None = None,
    event_id: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """process: the inputs consumed, the output lot made; the process as dh:process."""
    event = _head("process", time, event_id)
    event["inputQuantityList"] = [quantity_element(i) for i in inputs]
    event["outputQuantityList"] = [quantity_element(output)]
    return _tail(event, "process", place, note, {ext("process"): process})


def aggregation_event(
    *,
    time: datetime,
    parent: str,
    lots: list[LotQty],
    containers: list[str] = (),  # type: ignore[assignment]
    place: str | None = None,
    event_id: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """pack: the lots (childQuantityList) and containers (childEPCs) into ``parent``."""
    event = _head("pack", time, event_id)
    event["parentID"] = parent
    event["childEPCs"] = list(containers)
    event["action"] = "ADD"
    if lots:
        event["childQuantityList"] = [quantity_element(i) for i in lots]
    return _tail(event, "pack", place, note)


def location_list(kind: str, place: str) -> list[dict[str, str]]:
    """A sourceList / destinationList of one ``location`` (CBV source/destination type)."""
    return [{"type": "location", kind: place}]
