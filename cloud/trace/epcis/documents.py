"""EPCISDocument and EPCISQueryDocument envelopes with the standard JSON-LD @context.

:func:`epcis_document` wraps events for capture or export, :func:`query_document` wraps
query results as the REST binding answers them. Both validate against the vendored GS1
schema (tests/cloud/test_epcis_documents.py). :func:`document_events` and
:func:`document_context` read them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

#: The EPCIS 2.0 JSON-LD context every document names first.
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
SCHEMA_VERSION = "2.0"
#: Our extension namespace, the one every Dehong event's extension fields are in (test
#: results, custody evidence, operations): one prefix, one IRI (a document binding
#: ``dh`` twice would expand one of them wrongly). A namespace IRI is a name and need not
#: resolve; it never changes (every stored event's fields are in it).
DH_NS = "https://dehong.local/ns/epcis/"
DH_PREFIX = "dh"
#: the @context entry our own events declare
DH_CONTEXT: dict[str, str] = {DH_PREFIX: DH_NS}


def _timestamp(moment: datetime | None) -> str:
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def build_context(extra: Iterable[Any] = ()) -> list[Any]:
    """The standard context followed by the extra ones (each once, in order): namespace
    declarations such as ``{"ext": "https://example.com/ns/"}`` for extension fields."""
    context: list[Any] = [EPCIS_CONTEXT]
    for item in extra:
        if item == EPCIS_CONTEXT or item in context:
            continue
        if isinstance(item, list):
            for sub in build_context(item)[1:]:
                if sub not in context:
                    context.append(sub)
        elif item:
            context.append(item)
    return context


def epcis_document(
    events: Sequence[Mapping[str, Any]],
    *,
    context: Iterable[Any] = (),
    creation_date: datetime | None = None,
    document_id: str | None = None,
    sender: str | None = None,
    receiver: str | None = None,
    instance_identifier: str | None = None,
) -> dict[str, Any]:
    """An EPCISDocument holding ``events`` (copied as they are)."""
    doc: dict[str, Any] = {"@context": build_context(context)}
    if document_id is not None:
        doc["id"] = document_id
    doc.update(
        {
            "type": "EPCISDocument",
            "schemaVersion": SCHEMA_VERSION,
            "creationDate": _timestamp(creation_date),
        }
    )
    for key, value in (
        ("sender", sender),
        ("receiver", receiver),
        ("instanceIdentifier", instance_identifier),
    ):
        if value is not None:
            doc[key] = value
    doc["epcisBody"] = {"eventList": [dict(e) for e in events]}
    return doc


def query_document(
    events: Sequence[Mapping[str, Any]],
    query_name: str = "SimpleEventQuery",
    *,
    subscription_id: str | None = None,
    context: Iterable[Any] = (),
    creation_date: datetime | None = None,
    document_id: str | None = None,
) -> dict[str, Any]:
    """An EPCISQueryDocument answering ``query_name`` with ``events``."""
    results: dict[str, Any] = {"queryName": query_name}
    if subscription_id is not None:
        results["subscriptionID"] = subscription_id
    results["resultsBody"] = {"eventList": [dict(e) for e in events]}
    doc: dict[str, Any] = {"@context": build_context(context)}
    if document_id is not None:
        doc["id"] = document_id
    doc.update(
        {
            "type": "EPCISQueryDocument",
            "schemaVersion": SCHEMA_VERSION,
            "creationDate": _timestamp(creation_date),
            "epcisBody": {"queryResults": results},
        }
    )
    return doc


def document_events(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The events of an EPCISDocument or EPCISQueryDocument (empty if it has none)."""
    body = doc.get("epcisBody")
    if not isinstance(body, Mapping):
        return []
    events = body.get("eventList")
    if events is None:
        results = body.get("queryResults")
        rb = results.get("resultsBody") if isinstance(results, Mapping) else None
        events = rb.get("eventList") if isinstance(rb, Mapping) else None
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []


def document_context(doc: Mapping[str, Any]) -> list[Any]:
    """The document's @context as a list (what to keep with its events, e.g. for hashing
    and for re-exporting their extension fields)."""
    ctx = doc.get("@context")
    if ctx is None:
        return []
    return list(ctx) if isinstance(ctx, list) else [ctx]
