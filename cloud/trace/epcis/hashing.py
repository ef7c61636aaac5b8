"""The CBV 2.0 event hash: ``ni:///sha-256;<hex>?ver=CBV2.0`` (GS1 CBV 2.0 §8.9).

An event is reduced to a *pre-hash string* that any two serialisations of the same event
share, and that string is hashed with SHA-256 and written as an RFC 6920 ``ni`` URI. The
pre-hash string is built exactly as GS1's reference implementation
(github.com/RalphTro/epcis-event-hash-generator, CBV 2.0 profile) builds it; its published
test vectors are in ``tests/data/epcis/hash/`` and all of them match.

The pre-hash string, in order, with no separators:

1. ``eventType=<type>``;
2. the standard fields in the canonical property order (eventTime, eventTimeZoneOffset,
   epcList, parentID, inputEPCList, childEPCs, quantityList, childQuantityList,
   inputQuantityList, outputEPCList, outputQuantityList, action, transformationID, bizStep,
   disposition, persistentDisposition, readPoint, bizLocation, bizTransactionList,
   sourceList, destinationList, sensorElementList), each ``name=value``; a list gives its
   name once and then its elements, each element's own fields in their canonical order,
   the elements sorted as strings (a bizTransaction, source or destination is
   ``type=...`` then its value); the sensorElementList wrapper name is left out (CBV 2.0);
3. ``ilmd`` and its fields; then the user extensions inside readPoint, bizLocation and
   the sensor elements (prefixed by the field names that lead to them); then the
   event-level user extensions; extension names as ``{namespace}localName``, every level
   sorted as strings.

Values are normalised first: white space trimmed; timestamps to UTC with exactly three
fractional digits (rounded half up) and ``Z``; numbers without trailing zeros; CBV bare
words and ``cbv:``/``gs1:`` CURIEs and ``urn:epcglobal:cbv:`` URNs to their web URIs
(``https://ref.gs1.org/cbv/BizStep-shipping``; measurement and alert types to
``https://ref.gs1.org/voc/<Term>``); EPC URNs and Digital Link URIs on any domain to the
constrained canonical Digital Link (``https://id.gs1.org/...``, numeric AIs, GTIN-14, no
query string, the finest level of identification only).

Left out: ``recordTime``, ``eventID``, ``errorDeclaration``, ``certificationInfo``, and
(a choice of ours, see README) an event-level ``@context``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from cloud.trace.epcis.identifiers import EpcError, parse_epc
from cloud.trace.epcis.vocabulary import CBV_NS, vocabularies

HASH_VERSION = "CBV2.0"
REF_VOC_NS = "https://ref.gs1.org/voc/"
_ALGORITHMS = {"sha-256": hashlib.sha256, "sha-384": hashlib.sha384, "sha-512": hashlib.sha512}

#: Namespace prefixes known without a declaration (the EPCIS context's; ``gs1`` is always
#: https://ref.gs1.org/voc/ in the reference implementation).
_KNOWN_PREFIXES = {
    "gs1": REF_VOC_NS,
    "cbv": CBV_NS,
    "epcis": "https://ref.gs1.org/epcis/",
    "cbvmda": "urn:epcglobal:cbv:mda",
}
_EXCLUDED = {"recordTime", "eventID", "type", "errorDeclaration", "certificationInfo", "@context"}
_IGNORED_KEYS = {"#text", "rdfs:comment", "comment"}

_QTY = ("epcClass", "quantity", "uom")
_SENSOR_METADATA = (
    "time", "startTime", "endTime", "deviceID", "deviceMetadata", "rawData",
    "dataProcessingMethod", "bizRules",
)  # fmt: skip
_SENSOR_REPORT = (
    "type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod",
    "time", "microorganism", "chemicalSubstance", "value", "component", "stringValue",
    "booleanValue", "hexBinaryValue", "uriValue", "minValue", "maxValue", "meanValue", "sDev",
    "percRank", "percValue", "uom", "coordinateReferenceSystem",
)  # fmt: skip
#: (field, kind) in the canonical property order.
_ORDER: tuple[tuple[str, str], ...] = (
    ("eventTime", "value"),
    ("eventTimeZoneOffset", "value"),
    ("epcList", "epcs"),
    ("parentID", "value"),
    ("inputEPCList", "epcs"),
    ("childEPCs", "epcs"),
    ("quantityList", "quantities"),
    ("childQuantityList", "quantities"),
    ("inputQuantityList", "quantities"),
    ("outputEPCList", "epcs"),
    ("outputQuantityList", "quantities"),
    ("action", "value"),
    ("transformationID", "value"),
    ("bizStep", "value"),
    ("disposition", "value"),
    ("persistentDisposition", "persistent"),
    ("readPoint", "place"),
    ("bizLocation", "place"),
    ("bizTransactionList", "typed:bizTransaction"),
    ("sourceList", "typed:source"),
    ("destinationList", "typed:destination"),
    ("sensorElementList", "sensors"),
)
_STANDARD = {name for name, _ in _ORDER}
_VOCAB_FIELDS = {"bizStep": "bizStep", "disposition": "disposition"}


# ---------------------------------------------------------------------------------------
# Value normalisation


def _namespaces(context: Any) -> dict[str, str]:
    ns = dict(_KNOWN_PREFIXES)
    items = context if isinstance(context, list) else [context]
    for item in items:
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(value, str) and not key.startswith("@"):
                    ns[key] = value
    ns["gs1"] = REF_VOC_NS
    return ns


class _Ctx:
    def __init__(self, context: Any) -> None:
        self.ns = _namespaces(context)

    def key(self, key: str) -> str:
        prefix, sep, local = key.partition(":")
        if sep and prefix in self.ns:
            return "{" + self.ns[prefix] + "}" + local
        return key

    def scalar(self, value: Any) -> str:
        """A JSON scalar as the reference implementation reads it."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            prefix, sep, local = value.partition(":")
            if sep and prefix in self.ns:
                ns = self.ns[prefix]
                if ns.startswith(("https://ref.gs1.org", "https://gs1.org")):
                    return ns + local
            return value
        return str(value)


_CBV_URNS = (
    ("urn:epcglobal:cbv:bizstep:", CBV_NS + "BizStep-"),
    ("urn:epcglobal:cbv:disp:", CBV_NS + "Disp-"),
    ("urn:epcglobal:cbv:btt:", CBV_NS + "BTT-"),
    ("urn:epcglobal:cbv:sdt:", CBV_NS + "SDT-"),
    ("urn:epcglobal:cbv:er:", CBV_NS + "ER-"),
)


def _number(text: str) -> str:
    """Numbers without trailing zeros or exponent noise; anything else unchanged."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if not number.is_finite():
        return text
    if number == number.to_integral_value():
        return str(number.to_integral_value())
    return format(number.normalize(), "f")


@lru_cache(maxsize=32768)
def canonical_value(text: str) -> str:
    """CBV URNs to web URIs, numbers normalised, GS1 identifiers to canonical Digital Link."""
    for urn, web in _CBV_URNS:
        text = text.replace(urn, web)
    text = _number(text)
    dl = hash_uri(text)
    return dl if dl is not None else text


@lru_cache(maxsize=8192)
def canonical_time(text: str) -> str:
    """UTC, millisecond precision rounded half up, ``Z``; unparseable text is kept."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    millis = int((Decimal(moment.microsecond) / 1000).quantize(Decimal(1), ROUND_HALF_UP))
    moment = moment.replace(microsecond=0) + timedelta(milliseconds=millis)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _vocab_uri(value: str, kind: str) -> str:
    """A bare CBV / GS1 word of the given vocabulary as its web URI; others unchanged."""
    vocab = vocabularies()[kind]
    if value not in vocab.words:
        return value
    if kind in ("measurementType", "sensorAlertType"):
        return REF_VOC_NS + value
    return vocab.uris[value]


# ---------------------------------------------------------------------------------------
# GS1 identifiers in the form the hash algorithm requires

# An EPC URN field (serial, lot, ...) is carried into the Digital Link as it is written in
# the URN (its own %-escapes kept), as the reference implementation does.
_URN_FIELD_AFTER = {  # scheme: number of dots before the raw field the DL carries verbatim
    "sgtin": 2, "lgtin": 2, "sgln": 2, "grai": 2, "gdti": 2, "sgcn": 2, "upui": 2,
    "itip": 4, "giai": 1, "ginc": 1,
}  # fmt: skip
_HASH_IDPAT = {"sgtin", "grai", "gdti", "sgcn", "cpi", "itip", "upui"}
_SHORT_NAMES = (
    ("/gtin/", "/01/"), ("/itip/", "/8006/"), ("/cpid/", "/8010/"), ("/gln/", "/414/"),
    ("/party/", "/417/"), ("/gsrnp/", "/8017/"), ("/gsrn/", "/8018/"), ("/gcn/", "/255/"),
    ("/sscc/", "/00/"), ("/gdti/", "/253/"), ("/ginc/", "/401/"), ("/gsin/", "/402/"),
    ("/grai/", "/8003/"), ("/giai/", "/8004/"), ("/cpv/", "/22/"), ("/lot/", "/10/"),
    ("/ser/", "/21/"),
)  # fmt: skip
_PRIMARY = ("00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006", "8010", "8017", "8018")  # fmt: skip
_DL_LOOK = re.compile(
    r"^https?:(//[^/?#]*)?[^?#]*/(01|gtin|8006|itip|8010|cpid|414|gln|417|party|8017|gsrnp"
    r"|8018|gsrn|255|gcn|00|sscc|253|gdti|401|ginc|402|gsin|8003|grai|8004|giai)/\d{4}"
)
_C = r"[\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]"
_ON_ID = re.compile(r"^https://id\.gs1\.org/(" + "|".join(_PRIMARY) + r")/\d{4}")
_CPV_ALONE = re.compile(rf"^https://id\.gs1\.org/(?:8006/\d{{18}}|01/\d{{14}})/22/{_C}{{0,20}}$")
_CPV_BEFORE = re.compile(
    rf"^https://id\.gs1\.org/(?:8006/\d{{18}}|01/\d{{14}})/22/(?:{_C}|/){{0,20}}$"
)
_LOT_AND_SERIAL = re.compile(
    rf"^https://id\.gs1\.org/(?:8006/\d{{18}}|01/\d{{14}})/10/{_C}{{0,20}}/21/{_C}{{0,20}}$"
)
_FINAL = re.compile(
    r"^https://id\.gs1\.org/(?:"
    + "|".join(
        (
            r"00/\d{18}",
            rf"01/\d{{14}}(?:/21/{_C}{{0,20}}|/10/{_C}{{0,20}}|/235/{_C}{{0,28}})?",
            rf"253/\d{{13}}{_C}{{0,17}}",
            r"255/\d{13}\d{0,12}",
            rf"401/{_C}{{0,30}}",
            r"402/\d{17}",
            rf"414/\d{{13}}(?:/254/{_C}{{0,20}})?",
            r"417/\d{13}",
            rf"8003/\d{{14}}{_C}{{0,16}}",
            rf"8004/{_C}{{0,30}}",
            rf"8006/\d{{18}}(?:/21/{_C}{{0,20}}|/10/{_C}{{0,20}})?",
            r"8010/[#\-/0-9A-Z]{0,30}(?:/8011/\d{0,12})?",
            r"8017/\d{18}",
            r"8018/\d{18}",
        )
    )
    + r")$"
)


def _urn_hash_form(uri: str) -> str | None:
    try:
        epc = parse_epc(uri)
    except EpcError:
        return None
    if not epc.canonical.startswith("https://") or not uri.startswith("urn:epc:"):
        return None
    kind_ns, scheme, body = uri[8:].split(":", 2)
    if kind_ns == "idpat":
        if scheme not in _HASH_IDPAT:
            return None
        return epc.canonical
    if scheme in _URN_FIELD_AFTER:
        raw = body.split(".", _URN_FIELD_AFTER[scheme])[-1]
        return {
            "sgtin": lambda: f"https://id.gs1.org/01/{epc.key}/21/{raw}",
            "lgtin": lambda: f"https://id.gs1.org/01/{epc.key}/10/{raw}",
            "upui": lambda: f"https://id.gs1.org/01/{epc.key}/235/{raw}",
            "sgln": lambda: (
                f"https://id.gs1.org/414/{epc.key}" + ("" if raw == "0" else f"/254/{raw}")
            ),
            "grai": lambda: f"https://id.gs1.org/8003/{epc.key}{raw}",
            "gdti": lambda: f"https://id.gs1.org/253/{epc.key}{raw}",
            "sgcn": lambda: f"https://id.gs1.org/255/{epc.key}{raw}",
            "itip": lambda: f"https://id.gs1.org/8006/{epc.key}/21/{raw}",
            "giai": lambda: f"https://id.gs1.org/8004/{body.split('.', 1)[0]}{raw}",
            "ginc": lambda: f"https://id.gs1.org/401/{body.split('.', 1)[0]}{raw}",
        }[scheme]()
    if scheme == "cpi":
        first, rest = body.split(".", 1)
        cpref, serial = rest.rsplit(".", 1)
        return f"https://id.gs1.org/8010/{first}{cpref}/8011/{serial}"
    return epc.canonical


def hash_uri(value: str) -> str | None:
    """The constrained canonical Digital Link URI the CBV 2.0 hash uses for an EPC URN or a
    GS1 Digital Link URI (check digits are computed, not verified); None for anything else."""
    if "." not in value:
        return None
    if value.startswith("urn:epc:"):
        return _urn_hash_form(value)
    if not _DL_LOOK.match(value):
        return None
    uri = value.split("?", 1)[0]
    for short, ai in _SHORT_NAMES:
        uri = uri.replace(short, ai)
    if not _ON_ID.match(uri):
        for ai in _PRIMARY:
            at = uri.find(f"/{ai}/")
            if at != -1:
                uri = "https://id.gs1.org" + uri[at:]
                break
    m = re.match(r"^https://id\.gs1\.org/01/(\d*)", uri)
    if m and len(m.group(1)) < 14:
        pad = {13: "0", 12: "00"}.get(len(m.group(1)), "000000" if len(m.group(1)) >= 8 else "")
        uri = uri.replace("/01/", "/01/" + pad)
    if _CPV_ALONE.match(uri):
        uri = uri[: uri.find("/22/")]
    elif _CPV_BEFORE.match(uri):
        at = uri.find("/22/")
        rest = uri[at + 4 :]
        uri = uri[:at] + rest[rest.find("/") :]
    if _LOT_AND_SERIAL.match(uri):
        at = uri.find("/10/")
        rest = uri[at + 4 :]
        uri = uri[:at] + rest[rest.find("/") :]
    return uri if _FINAL.match(uri) else None


# ---------------------------------------------------------------------------------------
# The reference's tree model (used for extensions and for the order of sensor elements)

_Node = tuple[str, str, list[Any]]


def _tree(value: Any, ctx: _Ctx) -> _Node:
    """A JSON value as (name, text, children), the model the reference sorts and renders."""
    if isinstance(value, list):
        return ("", "", sorted(_tree(v, ctx) for v in value))
    if isinstance(value, dict):
        name = value["type"] if isinstance(value.get("type"), str) else ""
        kids: list[_Node] = []
        for key, sub in value.items():
            if key in _IGNORED_KEYS:
                continue
            child = _tree(sub, ctx)
            k = ctx.key(key)
            if isinstance(sub, list):
                kids.extend((k, c[1], c[2]) for c in child[2])
            else:
                kids.append((k, child[1], child[2]))
        if not any(k in value for k in ("bizTransaction", "source", "destination")):
            kids.sort()
        return (name, "", kids)
    return ("", ctx.scalar(value), [])


def _render(nodes: list[_Node]) -> str:
    parts = []
    for name, text, kids in nodes:
        text = text.strip()
        entry = name + ("=" + canonical_value(text) if text else "")
        parts.append(entry + _render(kids))
    if len(nodes) > 1 and not any(
        n[0] in ("bizTransaction", "source", "destination") for n in nodes
    ):
        parts.sort()
    return "".join(parts)


def _entries(obj: dict[str, Any], keys: Any, ctx: _Ctx) -> list[_Node]:
    """The nodes of the given keys of obj (a list value gives one node per element)."""
    nodes: list[_Node] = []
    for key in keys:
        value = obj[key]
        child = _tree(value, ctx)
        k = ctx.key(key)
        if isinstance(value, list):
            nodes.extend((k, c[1], c[2]) for c in child[2])
        else:
            nodes.append((k, child[1], child[2]))
    return nodes


def _extra_keys(obj: dict[str, Any], known: Any) -> list[str]:
    return [k for k in obj if k not in known and k not in _IGNORED_KEYS]


# ---------------------------------------------------------------------------------------
# The pre-hash string


def _text(value: Any, ctx: _Ctx, field: str, kind: str | None = None) -> str:
    if isinstance(value, (dict, list)) or value is None:
        return ""
    raw = value if isinstance(value, str) else None
    if kind is not None and raw is not None and ":" not in raw:
        text = _vocab_uri(raw, kind)
    else:
        text = ctx.scalar(value)
    text = text.strip()
    if not text:
        return ""
    lower = field.lower()
    if "time" in lower and "offset" not in lower:
        return "=" + canonical_time(text)
    return "=" + canonical_value(text)


def _fields(obj: dict[str, Any], order: tuple[str, ...], ctx: _Ctx, vocab: dict[str, str]) -> str:
    out = ""
    for field in order:
        if field not in obj:
            continue
        values = obj[field] if isinstance(obj[field], list) else [obj[field]]
        parts = sorted(
            field + t for t in (_text(v, ctx, field, vocab.get(field)) for v in values) if t
        )
        out += "".join(parts)
    return out


def _sensor_element(element: dict[str, Any], ctx: _Ctx) -> str:
    out = ""
    meta = element.get("sensorMetadata")
    if isinstance(meta, dict):
        inner = _fields(meta, _SENSOR_METADATA, ctx, {})
        if inner:
            out += "sensorMetadata" + inner
    reports = element.get("sensorReport")
    if isinstance(reports, dict):
        reports = [reports]
    if isinstance(reports, list):
        vocab = {
            "type": "measurementType",
            "exception": "sensorAlertType",
            "component": "component",
        }
        parts = []
        for report in reports:
            if isinstance(report, dict):
                inner = _fields(report, _SENSOR_REPORT, ctx, vocab)
                if inner:
                    parts.append("sensorReport" + inner)
        out += "".join(sorted(parts))
    return "sensorElement" + out if out else ""


def _standard(event: dict[str, Any], ctx: _Ctx) -> str:
    out = ""
    for field, kind in _ORDER:
        if field not in event:
            continue
        value = event[field]
        if kind == "value":
            out += _fields(event, (field,), ctx, _VOCAB_FIELDS)
        elif kind == "epcs" and isinstance(value, list):
            inner = "".join(sorted("epc" + t for t in (_text(v, ctx, "epc") for v in value) if t))
            if inner:
                out += field + inner
        elif kind == "quantities" and isinstance(value, list):
            items = [
                "quantityElement" + inner
                for q in value
                if isinstance(q, dict) and (inner := _fields(q, _QTY, ctx, {}))
            ]
            if items:
                out += field + "".join(sorted(items))
        elif kind == "persistent" and isinstance(value, dict):
            inner = _fields(
                value, ("set", "unset"), ctx, {"set": "disposition", "unset": "disposition"}
            )
            if inner:
                out += field + inner
        elif kind == "place" and isinstance(value, dict):
            inner = _fields(value, ("id",), ctx, {})
            if inner:
                out += field + inner
        elif kind.startswith("typed:") and isinstance(value, list):
            name = kind[6:]
            vocab = "bizTransactionType" if name == "bizTransaction" else "sourceDestType"
            items = []
            for item in value:
                if isinstance(item, dict):
                    inner = _fields(item, ("type",), ctx, {"type": vocab}) + _fields(
                        item, (name,), ctx, {}
                    )
                    if inner:
                        items.append(inner)
            if items:
                out += field + "".join(sorted(items))
        elif kind == "sensors" and isinstance(value, list):
            # CBV 2.0: the sensorElementList wrapper name does not appear
            out += "".join(
                sorted(s for e in value if isinstance(e, dict) and (s := _sensor_element(e, ctx)))
            )
    return out


def _sensor_extensions(elements: list[Any], ctx: _Ctx) -> str:
    ordered = sorted((e for e in elements if isinstance(e, dict)), key=lambda e: _tree(e, ctx))
    out = ""
    for element in ordered:
        parts = []
        meta = element.get("sensorMetadata")
        if isinstance(meta, dict):
            extra = _extra_keys(meta, _SENSOR_METADATA)
            if extra:
                parts.append("sensorMetadata" + _render(_entries(meta, extra, ctx)))
        reports = element.get("sensorReport")
        reports = [reports] if isinstance(reports, dict) else reports
        if isinstance(reports, list):
            for report in sorted(
                (r for r in reports if isinstance(r, dict)),
                key=lambda r: _tree(r, ctx),
            ):
                extra = _extra_keys(report, _SENSOR_REPORT)
                if extra:
                    parts.append("sensorReport" + _render(_entries(report, extra, ctx)))
        extra = _extra_keys(element, ("sensorMetadata", "sensorReport"))
        if extra:
            parts.append(_render(_entries(element, extra, ctx)))
        if parts:
            out += "sensorElement" + "".join(parts)
    return out


def _trailing(event: dict[str, Any], ctx: _Ctx) -> str:
    out = ""
    if "ilmd" in event:
        out += _render([("ilmd", *_tree(event["ilmd"], ctx)[1:])])
    for field in ("readPoint", "bizLocation"):
        place = event.get(field)
        if isinstance(place, dict):
            extra = _extra_keys(place, ("id",))
            if extra:
                out += field + _render(_entries(place, extra, ctx))
    if isinstance(event.get("sensorElementList"), list):
        out += _sensor_extensions(event["sensorElementList"], ctx)
    extra = [k for k in _extra_keys(event, _STANDARD | _EXCLUDED) if k != "ilmd"]
    if extra:
        out += _render(_entries(event, extra, ctx))
    return out


def prehash_string(event: dict[str, Any], context: Any = None) -> str:
    """The CBV 2.0 pre-hash string of one event. ``context`` is the ``@context`` of the
    document the event came in (the event's own ``@context`` is used too): it gives the
    namespaces of extension fields."""
    contexts: list[Any] = []
    for item in (context, event.get("@context")):
        if isinstance(item, list):
            contexts.extend(item)
        elif item is not None:
            contexts.append(item)
    ctx = _Ctx(contexts)
    return f"eventType={event.get('type', '')}" + _standard(event, ctx) + _trailing(event, ctx)


def event_hash(event: dict[str, Any], context: Any = None, *, algorithm: str = "sha-256") -> str:
    """The CBV 2.0 event hash ``ni:///sha-256;<hex>?ver=CBV2.0`` of one event."""
    digest = _ALGORITHMS[algorithm](prehash_string(event, context).encode("utf-8")).hexdigest()
    return f"ni:///{algorithm};{digest}?ver={HASH_VERSION}"


def document_event_hashes(doc: dict[str, Any], *, algorithm: str = "sha-256") -> list[str]:
    """The event hash of every event of an EPCISDocument or EPCISQueryDocument, in order."""
    body = doc.get("epcisBody", {})
    events = body.get("eventList")
    if events is None:
        events = body.get("queryResults", {}).get("resultsBody", {}).get("eventList", [])
    return [event_hash(e, doc.get("@context"), algorithm=algorithm) for e in events]
