"""EPCISDocument / EPCISQueryDocument envelopes validate against GS1's schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cloud.trace.epcis import event_hash, validate_document
from cloud.trace.epcis.documents import (
    EPCIS_CONTEXT,
    build_context,
    document_context,
    document_events,
    epcis_document,
    query_document,
)
from tests.support.epcis import gs1_examples


def _gs1_events() -> tuple[list[dict], list]:
    """The events of GS1's examples whose namespace prefixes agree, and their contexts.

    One document has one meaning per prefix, and GS1's examples do not agree:
    ``example`` is ``http://ns.example.com/epcis/`` in most, ``https://ns.example.com/epcis``
    in SensorDataExample12. A document that redefines a prefix is left out here (the query
    export gives such an event its own @context: test_trace_roundtrip)."""
    events, context, prefixes = [], [], {}
    for path in gs1_examples():
        doc = json.loads(path.read_text())
        mine = [c for c in document_context(doc) if isinstance(c, dict)]
        declared = {k: v for c in mine for k, v in c.items()}
        if any(prefixes.get(k, v) != v for k, v in declared.items()):
            continue
        prefixes.update(declared)
        events += document_events(doc)
        context += mine
    return events, context


def test_epcis_document_of_every_gs1_event_validates() -> None:
    events, context = _gs1_events()
    doc = epcis_document(events, context=context)
    assert doc["@context"][0] == EPCIS_CONTEXT
    assert doc["type"] == "EPCISDocument" and doc["schemaVersion"] == "2.0"
    assert validate_document(doc) == []
    assert document_events(doc) == events


def test_query_document_validates_and_round_trips() -> None:
    events, context = _gs1_events()
    doc = query_document(events, "SimpleEventQuery", subscription_id="sub-1", context=context)
    assert doc["type"] == "EPCISQueryDocument"
    assert doc["epcisBody"]["queryResults"]["queryName"] == "SimpleEventQuery"
    assert validate_document(doc) == []
    assert document_events(doc) == events
    # hashing an event needs the namespaces of its document
    ctx = document_context(doc)
    assert [event_hash(e, ctx) for e in document_events(doc)] == [
        event_hash(e, context) for e in events
    ]


def test_empty_query_result_is_valid() -> None:
    assert validate_document(query_document([])) == []


def test_creation_date_and_header_fields() -> None:
    moment = datetime(2024, 5, 1, 0, 30, 1, 123456, tzinfo=UTC)
    doc = epcis_document(
        [],
        creation_date=moment,
        document_id="urn:uuid:00000000-0000-4000-8000-000000000000",
        sender="urn:epc:id:pgln:0614141.00777",
    )
    assert doc["creationDate"] == "2024-05-01T00:30:01.123Z"
    assert validate_document(doc) == []


def test_build_context_dedupes() -> None:
    ext = {"ext": "https://example.com/ns/"}
    assert build_context([EPCIS_CONTEXT, ext, ext, [ext]]) == [EPCIS_CONTEXT, ext]
