"""EPCIS validation: GS1's examples pass, bad input is refused with the field and the reason.

Conformance: every GS1 example in tests/data/epcis/examples/ validates with no error.
Bad input: every case in tests/data/epcis/bad/ names the field and the reason it expects.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from cloud.trace.epcis import FieldError, validate_document, validate_event
from cloud.trace.epcis.documents import epcis_document
from cloud.trace.epcis.validation import MAX_ERRORS
from tests.support.epcis import gs1_examples

DATA = Path(__file__).resolve().parents[1] / "data" / "epcis"
EXAMPLES = gs1_examples()
BAD = sorted((DATA / "bad").glob("*.json"))
REFUSED = json.loads((DATA / "refused" / "expected.json").read_text())

BASES: dict[str, dict[str, Any]] = {
    "ObjectEvent": {
        "type": "ObjectEvent",
        "eventTime": "2024-05-01T08:30:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": ["https://id.gs1.org/01/09506000134352/21/SN-1"],
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "readPoint": {"id": "https://id.gs1.org/414/9521234000006"},
    },
    "AggregationEvent": {
        "type": "AggregationEvent",
        "eventTime": "2024-05-01T08:30:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "parentID": "https://id.gs1.org/00/106141412345678908",
        "childQuantityList": [
            {
                "epcClass": "https://id.gs1.org/01/09506000134352/10/LOT1",
                "quantity": 12,
                "uom": "KGM",
            }
        ],
        "action": "ADD",
        "bizStep": "packing",
    },
}


def _expand(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(r"<<(.)\*(\d+)>>", lambda m: m.group(1) * int(m.group(2)), value)
    if isinstance(value, list):
        return [_expand(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    return value


def _case_event(case: dict[str, Any]) -> dict[str, Any]:
    if "event" in case:
        return _expand(case["event"])
    event = copy.deepcopy(BASES[case.get("base", "ObjectEvent")])
    event.update(_expand(case.get("set", {})))
    for key in case.get("remove", []):
        event.pop(key, None)
    return event


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_gs1_example_is_valid(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert validate_document(doc) == []


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_gs1_example_that_is_itself_invalid_is_refused_with_the_reason(name: str) -> None:
    """GS1 examples that break EPCIS 2.0 (drafts, a class in epcList):
    tests/data/epcis/refused/README.md says why."""
    doc = json.loads((DATA / "refused" / name).read_text())
    errors = validate_document(doc)
    for want in REFUSED[name]:
        assert any(e.path == want["field"] and want["reason"] in e.reason for e in errors), (
            name,
            errors,
        )


def test_there_is_a_varied_set_of_examples() -> None:
    types = set()
    for path in EXAMPLES:
        doc = json.loads(path.read_text())
        body = doc["epcisBody"]
        events = body.get("eventList") or body["queryResults"]["resultsBody"]["eventList"]
        types |= {e["type"] for e in events}
        types |= {"errorDeclaration" for e in events if "errorDeclaration" in e}
        types |= {"sensorElementList" for e in events if "sensorElementList" in e}
        types |= {doc["type"]}
        text = json.dumps(doc)
        for feature in ("certificationInfo", "persistentDisposition", "ilmd", "exception",
                        "coordinateReferenceSystem", "hexBinaryValue", "geo:", "id.example.com/",
                        "sourceList", "transformationID", "sender"):  # fmt: skip
            types |= {feature} if feature in text else set()
        types |= {"no eventID" for e in events if "eventID" not in e}
    assert types >= {
        "ObjectEvent", "AggregationEvent", "TransformationEvent", "TransactionEvent",
        "AssociationEvent", "errorDeclaration", "sensorElementList", "EPCISQueryDocument",
        "certificationInfo", "persistentDisposition", "ilmd", "exception",
        "coordinateReferenceSystem", "hexBinaryValue", "geo:", "id.example.com/",
        "sourceList", "transformationID", "sender", "no eventID",
    }  # fmt: skip


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_input_names_field_and_reason(path: Path) -> None:
    case = json.loads(path.read_text())
    event = _case_event(case)
    ctx = [{"cbvmda": "urn:epcglobal:cbv:mda:"}]
    errors = validate_document(epcis_document([event], context=ctx))
    assert errors, f"{case['description']}: accepted"
    for want in case["errors"]:
        field = f"epcisBody.eventList[0].{want['field']}"
        matching = [e for e in errors if e.path == field]
        assert matching, f"{case['description']}: no error on {field}: {errors}"
        assert any(want["reason"] in e.reason for e in matching), (field, matching)
    # the same event checked on its own names the same fields
    alone = validate_event(event, "epcisBody.eventList[0]", context=ctx)
    assert {e.path for e in alone} >= {
        f"epcisBody.eventList[0].{w['field']}" for w in case["errors"]
    }


def test_the_good_base_events_are_valid() -> None:
    for event in BASES.values():
        assert validate_document(epcis_document([event])) == []


def test_schema_errors_are_readable() -> None:
    event = copy.deepcopy(BASES["ObjectEvent"])
    event["epcList"] = "https://id.gs1.org/01/09506000134352/21/SN-1"  # not a list
    event["readPoint"] = {}
    errors = validate_document(epcis_document([event]))
    by_path = {e.path: e.reason for e in errors}
    assert by_path["epcisBody.eventList[0].epcList"].startswith("must be an array")
    assert by_path["epcisBody.eventList[0].readPoint.id"] == "required field is missing"
    for e in errors:
        assert "is not valid under any of the given schemas" not in e.reason
        assert len(e.reason) < 300


def test_document_level_errors() -> None:
    assert validate_document([]) == [FieldError("", "an EPCIS document is a JSON object")]
    assert [e.path for e in validate_document({})] == ["type"]
    doc = epcis_document([BASES["ObjectEvent"]])
    del doc["creationDate"]
    doc["schemaVersion"] = "two"
    paths = {e.path for e in validate_document(doc)}
    assert {"creationDate", "schemaVersion"} <= paths


def test_error_list_is_capped() -> None:
    events = []
    for i in range(MAX_ERRORS + 50):
        e = copy.deepcopy(BASES["ObjectEvent"])
        e["bizStep"] = f"step{i}"
        events.append(e)
    errors = validate_document(epcis_document(events))
    assert len(errors) == MAX_ERRORS + 1
    assert "more errors" in errors[-1].reason


def test_deep_nesting_is_refused_not_crashed() -> None:
    value: Any = "x"
    for _ in range(200):
        value = {"cbvmda:n": value}
    event = copy.deepcopy(BASES["ObjectEvent"])
    event["cbvmda:nested"] = value
    errors = validate_document(
        epcis_document([event], context=[{"cbvmda": "urn:epcglobal:cbv:mda:"}])
    )
    assert any("nested more than" in e.reason for e in errors)


def test_validate_event_without_context_does_not_guess_prefixes() -> None:
    event = copy.deepcopy(BASES["ObjectEvent"])
    event["acme:moisture"] = "11.5"
    assert validate_event(event, "e") == []
    assert [e.path for e in validate_event(event, "e", context=[{"x": "https://x/"}])] == [
        "e.acme:moisture"
    ]
    event["moisture"] = "11.5"
    assert [e.path for e in validate_event(event, "e")] == ["e.moisture"]
