"""Validation of EPCIS 2.0 documents and events: GS1's JSON Schema plus what it lets through.

:func:`validate_document` and :func:`validate_event` answer a list of
:class:`~cloud.trace.epcis.errors.FieldError` (empty when valid). Beyond the schema
(:mod:`cloud.trace.epcis.schema`) they check:

- **CBV vocabulary**: a bare word in bizStep, disposition, persistentDisposition,
  business transaction type, source/destination type, error reason, sensor measurement
  type, sensor alert type or sensor component must be a CBV 2.0 / GS1 Web Vocabulary term
  (taken from the vendored contexts); anything else must be an absolute URI (an extension
  vocabulary); a URI in the CBV namespace must name a real CBV term.
- **Identifiers**: every EPC (epcList, childEPCs, parentID, input/outputEPCList), EPC class
  (quantity lists), location (readPoint, bizLocation) and party (source/destination) that is
  an EPC URN or a GS1 Digital Link URI must be well formed, check digits included, and of
  the right kind (an instance where an instance belongs, a class in a quantity list, an
  SGLN for a location, a PGLN/SGLN for a party); any other identifier must at least be an
  absolute URI. ``urn:epc:`` URNs anywhere in a standard URI field must be well formed.
- **Times**: eventTime, recordTime, declarationTime, creationDate and sensor times are
  RFC 3339 date-times with an offset; eventTimeZoneOffset is present and ±hh:mm.
- **TransformationEvent**: at least one input and one output, unless it has a
  transformationID (EPCIS 2.0 §7.4.6).
- **Extension fields**: a field that is not EPCIS's must be namespaced (``prefix:name``
  with the prefix declared in ``@context`` or the EPCIS context, or an absolute URI).
- **Size**: no string longer than :data:`MAX_STRING_LENGTH`, no nesting deeper than
  :data:`MAX_DEPTH`; at most :data:`MAX_ERRORS` errors are listed.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Any

from cloud.trace.epcis.errors import FieldError, join_path
from cloud.trace.epcis.identifiers import (
    EpcError,
    is_epc_urn,
    looks_like_digital_link,
    parse_epc,
)
from cloud.trace.epcis.schema import EVENT_TYPES, load_standard, schema_errors
from cloud.trace.epcis.vocabulary import CBV_NS, Vocabulary, vocabularies

MAX_STRING_LENGTH = 4096
MAX_DEPTH = 32
MAX_ERRORS = 100

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_NO_SPACE = re.compile(r"^[^\s\x00-\x1f\x7f<>\"{}|\\^`]+$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

_COMMON = {
    "@context", "type", "eventTime", "recordTime", "eventTimeZoneOffset", "eventID",
    "certificationInfo", "errorDeclaration",
}  # fmt: skip
_EVENT_FIELDS = {
    "ObjectEvent": {
        "action", "epcList", "quantityList", "bizStep", "disposition", "persistentDisposition",
        "readPoint", "bizLocation", "bizTransactionList", "sourceList", "destinationList",
        "sensorElementList", "ilmd",
    },
    "AggregationEvent": {
        "parentID", "childEPCs", "childQuantityList", "action", "bizStep", "disposition",
        "readPoint", "bizLocation", "bizTransactionList", "sourceList", "destinationList",
        "sensorElementList",
    },
    "AssociationEvent": {
        "parentID", "childEPCs", "childQuantityList", "action", "bizStep", "disposition",
        "readPoint", "bizLocation", "bizTransactionList", "sourceList", "destinationList",
        "sensorElementList",
    },
    "TransactionEvent": {
        "bizTransactionList", "parentID", "epcList", "quantityList", "action", "bizStep",
        "disposition", "readPoint", "bizLocation", "sourceList", "destinationList",
        "sensorElementList",
    },
    "TransformationEvent": {
        "inputEPCList", "inputQuantityList", "outputEPCList", "outputQuantityList",
        "transformationID", "bizStep", "disposition", "persistentDisposition", "readPoint",
        "bizLocation", "bizTransactionList", "sourceList", "destinationList",
        "sensorElementList", "ilmd",
    },
}  # fmt: skip
_SENSOR_METADATA = {
    "time", "deviceID", "deviceMetadata", "rawData", "startTime", "endTime",
    "dataProcessingMethod", "bizRules",
}  # fmt: skip
_SENSOR_REPORT = {
    "type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod",
    "bizRules", "time", "microorganism", "chemicalSubstance", "coordinateReferenceSystem",
    "value", "component", "stringValue", "booleanValue", "hexBinaryValue", "uriValue",
    "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue", "uom",
}  # fmt: skip


@cache
def standard_prefixes() -> frozenset[str]:
    """Prefixes the EPCIS 2.0 context itself declares (epcis, cbv, cbvmda, gs1, rdfs, ...)."""
    ctx = load_standard("context/epcis-context-root.jsonld")["@context"]
    return frozenset(k for k, v in ctx.items() if isinstance(v, str) and not k.startswith("@"))


def context_prefixes(context: Any) -> frozenset[str]:
    """The prefixes a document's ``@context`` declares, with the standard ones."""
    found = set(standard_prefixes())
    items = context if isinstance(context, list) else [context]
    for item in items:
        if isinstance(item, dict):
            for key, value in item.items():
                if not key.startswith("@") and (
                    isinstance(value, str) or (isinstance(value, dict) and "@id" in value)
                ):
                    found.add(key)
    return frozenset(found)


def is_absolute_uri(value: Any) -> bool:
    """RFC 3986 absolute URI: a scheme, a colon, something, no white space."""
    return (
        isinstance(value, str)
        and bool(_SCHEME.match(value))
        and len(value) > value.index(":") + 1
        and bool(_NO_SPACE.match(value))
    )


def is_datetime(value: Any) -> bool:
    """RFC 3339 date-time with a time zone offset (``2024-05-01T08:00:00.5+08:00``)."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


class _Checker:
    """Collects the errors of one document or event (no more than MAX_ERRORS)."""

    def __init__(self, prefixes: frozenset[str] | None) -> None:
        self.errors: list[FieldError] = []
        self.prefixes = prefixes
        self.vocab = vocabularies()
        self.truncated = 0

    def add(self, path: str, reason: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(FieldError(path, reason))
        else:
            self.truncated += 1

    # -- sizes ---------------------------------------------------------------------------

    def sizes(self, value: Any, path: str) -> None:
        if _sizes_ok(value):
            return
        stack: list[tuple[Any, str, int]] = [(value, path, 0)]
        while stack:
            item, where, depth = stack.pop()
            if depth > MAX_DEPTH:
                self.add(where, f"is nested more than {MAX_DEPTH} levels deep")
                continue
            if isinstance(item, str):
                if len(item) > MAX_STRING_LENGTH:
                    self.add(
                        where,
                        f"is {len(item)} characters long; at most {MAX_STRING_LENGTH} are allowed",
                    )
            elif isinstance(item, dict):
                for key, sub in item.items():
                    if len(key) > 512:
                        self.add(where, f"has a field name of {len(key)} characters (at most 512)")
                        continue
                    stack.append((sub, join_path(where, key), depth + 1))
            elif isinstance(item, list):
                for i, sub in enumerate(item):
                    stack.append((sub, join_path(where, i), depth + 1))

    # -- scalar kinds --------------------------------------------------------------------

    def time(self, event: dict[str, Any], key: str, path: str) -> None:
        if key in event and isinstance(event[key], str) and not is_datetime(event[key]):
            self.add(
                join_path(path, key),
                f"{_q(event[key])} is not an RFC 3339 date-time with an offset "
                "(e.g. 2024-05-01T08:30:00.000+08:00 or 2024-05-01T00:30:00Z)",
            )

    def uri(self, value: Any, path: str, what: str = "value") -> None:
        if not isinstance(value, str):
            return  # the schema reports the type
        if not is_absolute_uri(value):
            self.add(
                path, f"{_q(value)} is not an absolute URI; a {what} must be a URI with a scheme"
            )
            return
        if is_epc_urn(value):
            try:
                parse_epc(value)
            except EpcError as exc:
                self.add(path, f"{_q(value)} is not a well-formed EPC URN: {exc}")

    def vocabulary(self, value: Any, path: str, kind: str) -> None:
        if not isinstance(value, str):
            return
        vocab: Vocabulary = self.vocab[kind]
        if ":" not in value:
            if value not in vocab.words:
                self.add(
                    path,
                    f"{_q(value)} is not a CBV 2.0 {vocab.name}; use a CBV value such as "
                    f"{vocab.example(value)!r} or an absolute URI for an extension vocabulary",
                )
            return
        if value.startswith("urn:epcglobal:cbv:"):
            word = value.rsplit(":", 1)[-1]
            self.add(
                path,
                f"{_q(value)} is the EPCIS 1.x URN form; in JSON/JSON-LD write the bare CBV "
                f"word ({word!r}) instead",
            )
            return
        if not is_absolute_uri(value):
            self.add(path, f"{_q(value)} is neither a CBV 2.0 {vocab.name} nor an absolute URI")
            return
        prefix, _, local = value.partition(":")
        if kind in ("measurementType", "sensorAlertType") and prefix == "gs1":
            if local not in vocab.words:
                self.add(path, f"{_q(value)}: {_q(local)} is not a GS1 {vocab.name}")
            return
        for ns in (CBV_NS, "http://ref.gs1.org/cbv/"):
            if value.startswith(ns) and vocab.word_of_uri(CBV_NS + value[len(ns) :]) is None:
                self.add(
                    path,
                    f"{_q(value)} is in the CBV namespace but is not a CBV 2.0 {vocab.name}; "
                    f"use e.g. {vocab.example()!r}",
                )
                return
        if prefix == "cbv" and vocab.word_of_uri(CBV_NS + local) is None:
            self.add(path, f"{_q(value)} is not a CBV 2.0 {vocab.name}")

    def identifier(self, value: Any, path: str, role: str) -> None:
        """role: instance, class, location, party."""
        if not isinstance(value, str):
            return
        if not (is_epc_urn(value) or looks_like_digital_link(value)):
            if not is_absolute_uri(value):
                self.add(
                    path,
                    f"{_q(value)} is not an identifier: use an EPC URN (urn:epc:id:...), a GS1 "
                    "Digital Link URI (https://id.gs1.org/01/<GTIN>/...) or another absolute URI",
                )
            return
        try:
            epc = parse_epc(value)
        except EpcError as exc:
            what = "EPC URN" if is_epc_urn(value) else "GS1 Digital Link URI"
            self.add(path, f"{_q(value)} is not a well-formed {what}: {exc}")
            return
        if role == "instance" and value[:14].lower() == "urn:epc:idpat:":
            # A product or lot class where an instance belongs is accepted, as GS1's
            # schema and its own examples do (SensorDataExample17 lists a GTIN alone); a
            # pattern only selects objects in a query, it never names one.
            self.add(
                path,
                f"{_q(value)} is a pattern (it selects objects in a query), not an object; "
                "list the object's EPC, or the class as an epcClass in a quantity list",
            )
        elif role == "class" and not epc.is_class:
            self.add(
                path,
                f"{_q(value)} names one object, not a class; an epcClass is a lot "
                "(urn:epc:class:lgtin:... or .../01/<GTIN>/10/<lot>), a product or a pattern",
            )
        elif role == "location" and epc.kind != "sgln":
            self.add(
                path,
                f"{_q(value)} is a {epc.kind.upper()}, not a location; use an SGLN "
                "(urn:epc:id:sgln:... or https://id.gs1.org/414/<GLN>[/254/<ext>])",
            )
        elif role == "party" and epc.kind not in ("pgln", "sgln"):
            self.add(
                path,
                f"{_q(value)} is a {epc.kind.upper()}, not a party or location; use a PGLN "
                "(urn:epc:id:pgln:... or https://id.gs1.org/417/<GLN>) or an SGLN",
            )

    # -- structure -----------------------------------------------------------------------

    def extension_keys(self, obj: dict[str, Any], known: set[str], path: str) -> None:
        for key in obj:
            if key in known or key in ("rdfs:comment", "comment"):
                continue
            if key.startswith("@"):
                self.add(
                    join_path(path, key), "JSON-LD keywords other than @context are not used here"
                )
                continue
            prefix, sep, local = key.partition(":")
            if not sep or not local:
                self.add(
                    join_path(path, key),
                    f"{_q(key)} is not an EPCIS field; an extension field needs a namespace: "
                    f"'prefix:{key}' with the prefix declared in @context, or an absolute URI",
                )
            elif (
                self.prefixes is not None
                and prefix not in self.prefixes
                and not (local.startswith("//") or prefix == "urn")
            ):
                self.add(
                    join_path(path, key),
                    f"the namespace prefix {prefix!r} is not declared in @context; declare it "
                    f'(e.g. {{"{prefix}": "https://example.com/ns/"}}) or use an absolute URI',
                )

    def event(self, event: Any, path: str) -> None:
        if not isinstance(event, dict):
            return  # the schema reports it
        etype = event.get("type")
        if isinstance(etype, str) and etype not in EVENT_TYPES and ":" not in etype:
            self.add(
                join_path(path, "type"),
                f"{_q(etype)} is not an EPCIS event type; use one of {', '.join(EVENT_TYPES)}",
            )
            return
        for key in ("eventTime", "recordTime"):
            self.time(event, key, path)
        if "eventID" in event:
            self.uri(event["eventID"], join_path(path, "eventID"), "eventID")
        cert = event.get("certificationInfo")
        for i, c in enumerate(cert if isinstance(cert, list) else [cert] if cert else []):
            where = (
                join_path(path, "certificationInfo", i)
                if isinstance(cert, list)
                else join_path(path, "certificationInfo")
            )
            self.uri(c, where, "certificationInfo")
        if etype in _EVENT_FIELDS:
            self.extension_keys(event, _COMMON | _EVENT_FIELDS[etype], path)

        for key in ("epcList", "childEPCs", "inputEPCList", "outputEPCList"):
            values = event.get(key)
            if isinstance(values, list):
                for i, v in enumerate(values):
                    self.identifier(v, join_path(path, key, i), "instance")
        if "parentID" in event:
            self.identifier(event["parentID"], join_path(path, "parentID"), "instance")
        for key in ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"):
            values = event.get(key)
            if isinstance(values, list):
                for i, q in enumerate(values):
                    if isinstance(q, dict):
                        where = join_path(path, key, i)
                        self.identifier(q.get("epcClass"), join_path(where, "epcClass"), "class")
                        qty = q.get("quantity")
                        if isinstance(qty, (int, float)) and not isinstance(qty, bool) and qty < 0:
                            self.add(
                                join_path(where, "quantity"),
                                f"{qty} is negative; a quantity is 0 or more",
                            )
                        if "uom" in q and "quantity" not in q:
                            self.add(join_path(where, "uom"), "a unit of measure needs a quantity")
        if "transformationID" in event:
            self.uri(
                event["transformationID"], join_path(path, "transformationID"), "transformationID"
            )

        for key in ("bizStep", "disposition"):
            if key in event:
                self.vocabulary(event[key], join_path(path, key), key)
        pd = event.get("persistentDisposition")
        if isinstance(pd, dict):
            for key in ("set", "unset"):
                if isinstance(pd.get(key), list):
                    for i, v in enumerate(pd[key]):
                        self.vocabulary(
                            v, join_path(path, "persistentDisposition", key, i), "disposition"
                        )
        for key, role in (("readPoint", "location"), ("bizLocation", "location")):
            place = event.get(key)
            if isinstance(place, dict):
                self.identifier(place.get("id"), join_path(path, key, "id"), role)
                self.extension_keys(place, {"id"}, join_path(path, key))
        bts = event.get("bizTransactionList")
        if isinstance(bts, list):
            for i, bt in enumerate(bts):
                if isinstance(bt, dict):
                    where = join_path(path, "bizTransactionList", i)
                    if "type" in bt:
                        self.vocabulary(bt["type"], join_path(where, "type"), "bizTransactionType")
                    self.uri(
                        bt.get("bizTransaction"),
                        join_path(where, "bizTransaction"),
                        "business transaction ID",
                    )
        for key, field in (("sourceList", "source"), ("destinationList", "destination")):
            items = event.get(key)
            if isinstance(items, list):
                for i, sd in enumerate(items):
                    if isinstance(sd, dict):
                        where = join_path(path, key, i)
                        if "type" in sd:
                            self.vocabulary(sd["type"], join_path(where, "type"), "sourceDestType")
                        role = "location" if sd.get("type") == "location" else "party"
                        if sd.get("type") in ("location", "owning_party", "possessing_party"):
                            self.identifier(sd.get(field), join_path(where, field), role)
                        else:
                            self.uri(sd.get(field), join_path(where, field), field)
        self.sensors(event.get("sensorElementList"), join_path(path, "sensorElementList"))
        ed = event.get("errorDeclaration")
        if isinstance(ed, dict):
            where = join_path(path, "errorDeclaration")
            self.time(ed, "declarationTime", where)
            if "reason" in ed:
                self.vocabulary(ed["reason"], join_path(where, "reason"), "errorReason")
            ids = ed.get("correctiveEventIDs")
            if isinstance(ids, list):
                for i, v in enumerate(ids):
                    self.uri(v, join_path(where, "correctiveEventIDs", i), "corrective event ID")
            self.extension_keys(ed, {"declarationTime", "reason", "correctiveEventIDs"}, where)
        ilmd = event.get("ilmd")
        if isinstance(ilmd, dict):
            self.extension_keys(ilmd, set(), join_path(path, "ilmd"))
        if etype == "TransformationEvent":
            self.transformation(event, path)

    def transformation(self, event: dict[str, Any], path: str) -> None:
        def has(*keys: str) -> bool:
            return any(isinstance(event.get(k), list) and event[k] for k in keys)

        if event.get("transformationID"):
            if not has("inputEPCList", "inputQuantityList", "outputEPCList", "outputQuantityList"):
                self.add(
                    join_path(path, "inputEPCList"),
                    "a TransformationEvent needs at least one input or output "
                    "(inputEPCList, inputQuantityList, outputEPCList or outputQuantityList)",
                )
            return
        if not has("inputEPCList", "inputQuantityList"):
            self.add(
                join_path(path, "inputEPCList"),
                "a TransformationEvent needs at least one input (inputEPCList or "
                "inputQuantityList), unless it names a transformationID shared with other events",
            )
        if not has("outputEPCList", "outputQuantityList"):
            self.add(
                join_path(path, "outputEPCList"),
                "a TransformationEvent needs at least one output (outputEPCList or "
                "outputQuantityList), unless it names a transformationID shared with other events",
            )

    def sensors(self, elements: Any, path: str) -> None:
        if not isinstance(elements, list):
            return
        for i, element in enumerate(elements):
            if not isinstance(element, dict):
                continue
            where = join_path(path, i)
            self.extension_keys(element, {"sensorMetadata", "sensorReport", "type"}, where)
            meta = element.get("sensorMetadata")
            if isinstance(meta, dict):
                mpath = join_path(where, "sensorMetadata")
                for key in ("time", "startTime", "endTime"):
                    self.time(meta, key, mpath)
                for key in (
                    "deviceID",
                    "deviceMetadata",
                    "rawData",
                    "dataProcessingMethod",
                    "bizRules",
                ):
                    if key in meta:
                        self.uri(meta[key], join_path(mpath, key), key)
                self.extension_keys(meta, _SENSOR_METADATA, mpath)
                start, end = meta.get("startTime"), meta.get("endTime")
                if is_datetime(start) and is_datetime(end) and _instant(end) < _instant(start):
                    self.add(join_path(mpath, "endTime"), "is before startTime")
            reports = element.get("sensorReport")
            if isinstance(reports, list):
                for j, report in enumerate(reports):
                    if not isinstance(report, dict):
                        continue
                    rpath = join_path(where, "sensorReport", j)
                    if "type" in report:
                        self.vocabulary(report["type"], join_path(rpath, "type"), "measurementType")
                    if "exception" in report:
                        self.vocabulary(
                            report["exception"], join_path(rpath, "exception"), "sensorAlertType"
                        )
                    if "component" in report:
                        self.vocabulary(
                            report["component"], join_path(rpath, "component"), "component"
                        )
                    self.time(report, "time", rpath)
                    for key in (
                        "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "bizRules",
                        "microorganism", "chemicalSubstance", "coordinateReferenceSystem", "uriValue",
                    ):  # fmt: skip
                        if key in report:
                            self.uri(report[key], join_path(rpath, key), key)
                    self.extension_keys(report, _SENSOR_REPORT, rpath)
                    lo, hi = report.get("minValue"), report.get("maxValue")
                    if _number(lo) and _number(hi) and lo > hi:
                        self.add(
                            join_path(rpath, "minValue"), f"{lo} is greater than maxValue {hi}"
                        )

    def finish(self) -> list[FieldError]:
        if self.truncated:
            self.errors.append(
                FieldError(
                    "", f"... and {self.truncated} more errors (only {MAX_ERRORS} are listed)"
                )
            )
        return self.errors


def _q(value: Any, limit: int = 80) -> str:
    """A value quoted for a message, shortened when long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'"


def _sizes_ok(value: Any) -> bool:
    """The fast pass of the size check: no string too long, no nesting too deep."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if type(item) is str:
            if len(item) > MAX_STRING_LENGTH:
                return False
        elif type(item) is dict:
            if depth >= MAX_DEPTH:
                return False
            for key, sub in item.items():
                if len(key) > 512:
                    return False
                push((sub, depth + 1))
        elif type(item) is list:
            if depth >= MAX_DEPTH:
                return False
            for sub in item:
                push((sub, depth + 1))
    return True


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))


def _merge(own: list[FieldError], schema: list[FieldError]) -> list[FieldError]:
    """Own errors first; a schema error about a field already reported is left out."""
    reported = {e.path for e in own}
    return own + [e for e in schema if e.path not in reported]


def _event_lists(doc: dict[str, Any]) -> tuple[str, list[Any]] | None:
    body = doc.get("epcisBody")
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("eventList"), list):
        return "epcisBody.eventList", body["eventList"]
    results = body.get("queryResults")
    if isinstance(results, dict):
        rb = results.get("resultsBody")
        if isinstance(rb, dict) and isinstance(rb.get("eventList"), list):
            return "epcisBody.queryResults.resultsBody.eventList", rb["eventList"]
    return None


def validate_document(doc: Any) -> list[FieldError]:
    """Every error of an EPCISDocument or EPCISQueryDocument (empty list when valid)."""
    if not isinstance(doc, dict):
        return [FieldError("", "an EPCIS document is a JSON object")]
    if doc.get("type") not in ("EPCISDocument", "EPCISQueryDocument"):
        got = f", not {_q(doc['type'])}" if "type" in doc else " (the field is missing)"
        return [
            FieldError(
                "type",
                f"an EPCIS document has type 'EPCISDocument' (or 'EPCISQueryDocument' for "
                f"query results){got}",
            )
        ]
    checker = _Checker(context_prefixes(doc.get("@context")))
    checker.sizes(doc, "")
    if "creationDate" in doc:
        checker.time(doc, "creationDate", "")
    found = _event_lists(doc)
    if found is not None:
        base, events = found
        for i, event in enumerate(events):
            if len(checker.errors) >= MAX_ERRORS:
                checker.truncated += 1
                continue
            checker.event(event, join_path(base, i))
    own = checker.finish()
    merged = _merge(own, schema_errors(doc))
    return merged[: MAX_ERRORS + 1]


def validate_event(event: Any, path: str = "", context: Any = None) -> list[FieldError]:
    """Every error of one event as it appears in an eventList; ``path`` prefixes each
    field (e.g. ``epcisBody.eventList[3]``), ``context`` is the document's ``@context``
    (for the namespace prefixes of extension fields; the event's own is used too). With
    no context at all, an extension prefix is not checked against declarations."""
    if not isinstance(event, dict):
        return [FieldError(path, "an EPCIS event is a JSON object")]
    contexts: list[Any] = []
    for ctx in (context, event.get("@context")):
        if isinstance(ctx, list):
            contexts.extend(ctx)
        elif ctx is not None:
            contexts.append(ctx)
    # without any @context the declared prefixes are unknown: only the prefix:name form
    # of extension fields is checked then
    checker = _Checker(context_prefixes(contexts) if contexts else None)
    checker.sizes(event, path)
    checker.event(event, path)
    own = checker.finish()
    return _merge(own, schema_errors(event, path, kind="event"))[: MAX_ERRORS + 1]
