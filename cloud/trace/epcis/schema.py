"""GS1's EPCIS 2.0 JSON Schema, compiled once, with its errors made readable.

The vendored schema (``standards/EPCIS-JSON-Schema.json``) is checked in two passes: a
compiled Rust validator (``jsonschema_rs``) answers "valid?" in microseconds, and only an
invalid input is walked again with the ``jsonschema`` library to say where and why. Both
leave the schema's ``format`` keywords unasserted (as JSON Schema draft-07 does by default);
date-times and URIs are checked by :mod:`cloud.trace.epcis.validation` itself, with better
messages.

jsonschema's messages dump whole schema branches (``... is not valid under any of the given
schemas``); :func:`schema_errors` translates each into the path of the field and a short
reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match

from cloud.trace.epcis.errors import FieldError, path_of

try:  # the fast path; the results are the same without it, only slower
    import jsonschema_rs
except ImportError:  # pragma: no cover - jsonschema_rs ships with the cloud extra
    jsonschema_rs = None

EVENT_TYPES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)


def load_standard(name: str) -> Any:
    """A vendored standards file (``standards/<name>``), parsed."""
    text = resources.files("cloud.trace.epcis").joinpath("standards", name).read_text("utf-8")
    return json.loads(text)


@cache
def _root_schema() -> dict[str, Any]:
    return load_standard("EPCIS-JSON-Schema.json")


@cache
def _validators(kind: str) -> tuple[Draft7Validator, Any]:
    root = _root_schema()
    if kind == "document":
        schema = root
    else:  # one event as it appears in an eventList (no @context of its own required)
        schema = {
            "$schema": root["$schema"],
            "definitions": root["definitions"],
            "allOf": [{"$ref": "#/definitions/EPCIS-Document-Event"}],
        }
    slow = Draft7Validator(schema)
    fast = jsonschema_rs.Draft7Validator(schema, validate_formats=False) if jsonschema_rs else None
    return slow, fast


def schema_errors(instance: Any, base: str = "", *, kind: str = "document") -> list[FieldError]:
    """The JSON Schema's verdict on a document (``kind="document"``) or on one event of an
    eventList (``kind="event"``), as readable field errors under ``base``."""
    slow, fast = _validators(kind)
    if fast is not None and fast.is_valid(instance):
        return []
    out: list[FieldError] = []
    seen: set[str] = set()
    for error in slow.iter_errors(instance):
        for fe in _translate(error, base):
            if fe.path not in seen:  # one error per field: the first is the most direct
                seen.add(fe.path)
                out.append(fe)
    return out


# ---------------------------------------------------------------------------------------
# Translation of jsonschema's errors


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_TYPE_NAMES = {
    "string": "a string",
    "array": "an array",
    "object": "an object",
    "number": "a number",
    "integer": "an integer",
    "boolean": "true or false",
}

_PATTERN_REASONS = {
    "eventTimeZoneOffset": (
        "must be the offset of the event's local time from UTC as ±hh:mm "
        "(e.g. +08:00 for China Standard Time, -06:00), between -13:59 and +14:00"
    ),
    "uom": "must be a UN/CEFACT Rec. 20 unit code of 2 or 3 upper-case letters or digits (e.g. KGM, CEL)",
    "schemaVersion": "must be a version number such as 2.0",
}


def _field_name(error: ValidationError) -> str:
    for part in reversed(error.absolute_path):
        if isinstance(part, str):
            return part
    return ""


def _event_type(instance: Any) -> str | None:
    if isinstance(instance, dict) and isinstance(instance.get("type"), str):
        return instance["type"]
    return None


def _translate(error: ValidationError, base: str) -> Iterator[FieldError]:
    path = path_of(base, error.absolute_path)
    v = error.validator
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        hint = (
            " (the offset of the event's local time from UTC as ±hh:mm, e.g. +08:00)"
            if missing == "eventTimeZoneOffset"
            else ""
        )
        yield FieldError(path_of(path, [missing]), f"required field is missing{hint}")
    elif v == "type":
        wanted = error.validator_value
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        yield FieldError(
            path,
            "must be " + " or ".join(_TYPE_NAMES.get(n, n) for n in names)
            + f", not {_short(error.instance)}",
        )  # fmt: skip
    elif v == "enum":
        allowed = list(error.validator_value)
        shown = ", ".join(repr(a) for a in allowed[:8]) + (", ..." if len(allowed) > 8 else "")
        yield FieldError(path, f"{_short(error.instance)} is not allowed here; use one of {shown}")
    elif v == "pattern":
        name = _field_name(error)
        if str(error.validator_value).startswith("^(?!"):
            yield FieldError(path, _reserved_namespace_reason(error.instance))
        else:
            reason = _PATTERN_REASONS.get(
                name, f"does not have the required form ({error.validator_value})"
            )
            if name == "action" or str(error.validator_value) in ("^OBSERVE$", "^ADD$", "^DELETE$"):
                reason = f"must be {str(error.validator_value).strip('^$')} here"
            yield FieldError(path, f"{_short(error.instance)} {reason}")
    elif v == "minItems":
        n = error.validator_value
        yield FieldError(path, f"must have at least {n} item{'s' if n != 1 else ''}")
    elif v == "uniqueItems":
        yield FieldError(path, "lists the same value more than once; list each value once")
    elif v == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        for key in extra:
            yield FieldError(path_of(path, [key]), "is not a field of this object; remove it")
    elif v == "propertyNames":
        yield FieldError(
            path_of(path, [str(error.instance)]),
            "is not a field of this object; an extension field needs a namespace "
            "(prefix:name with the prefix in @context, or an absolute URI)",
        )
    elif v == "not":
        name = _field_name(error)
        yield FieldError(path, f"{name or 'this field'} is not allowed here")
    elif v in ("anyOf", "oneOf", "allOf"):
        yield from _translate_combination(error, base, path)
    else:
        yield FieldError(path, error.message if len(error.message) < 200 else f"is invalid ({v})")


def _reserved_namespace_reason(value: Any) -> str:
    text = str(value)
    if text.startswith("urn:epcglobal:cbv:"):
        word = text.rsplit(":", 1)[-1]
        return (
            f"{_short(text)} is the EPCIS 1.x URN form; in JSON/JSON-LD write the bare CBV "
            f"word ({word!r}) instead"
        )
    if "gs1.org/voc/" in text:
        word = text.rstrip("/").rsplit("/", 1)[-1]
        return f"{_short(text)}: write the bare GS1 Web Vocabulary term ({word!r}) instead"
    return f"{_short(text)} uses a namespace reserved for the standard vocabulary"


def _translate_combination(error: ValidationError, base: str, path: str) -> Iterator[FieldError]:
    subs = list(error.context or [])
    event_type = _event_type(error.instance)
    if subs and all(s.validator == "required" for s in subs):
        names = []
        for s in subs:
            name = s.message.split("'")[1] if "'" in s.message else ""
            if name and name not in names:
                names.append(name)
        what = event_type or "this object"
        if event_type == "ObjectEvent":
            reason = (
                "an ObjectEvent needs epcList, quantityList, or sensorElementList with readPoint"
            )
        else:
            reason = f"{what} needs at least one of: {', '.join(names)}"
        yield FieldError(path, reason)
        return
    if event_type == "TransformationEvent":
        # validation.py reports missing inputs/outputs with the field that is missing
        return
    if event_type in ("AggregationEvent", "AssociationEvent", "TransactionEvent"):
        what = (
            "childEPCs or childQuantityList"
            if event_type != "TransactionEvent"
            else ("epcList or quantityList")
        )
        yield FieldError(path, f"a {event_type} with action ADD or OBSERVE needs {what}")
        return
    if (
        event_type == "ObjectEvent"
        and isinstance(error.instance, dict)
        and "ilmd" in error.instance
    ):
        yield FieldError(
            path_of(path, ["ilmd"]),
            "ilmd (instance/lot master data) is only allowed with action ADD",
        )
        return
    if not subs:
        yield FieldError(path, f"{_short(error.instance)} is not valid here")
        return
    # a value that fits none of the alternatives: report the alternative that got furthest
    reserved = [
        s for s in subs if s.validator == "pattern" and str(s.validator_value).startswith("^(?!")
    ]
    if reserved:
        yield FieldError(path, _reserved_namespace_reason(error.instance))
        return
    best = best_match(subs)
    if best is not None:
        yield from _translate(best, base)
