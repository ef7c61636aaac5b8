"""What an event names, and in which role: the identifiers of its EPC lists, parent,
children and quantity lists, normalised for matching (pure, no database).

Matching normalises: a GS1 Digital Link on any domain and the equivalent EPC URN are
one identifier (:func:`cloud.trace.epcis.identifiers.parse_epc` gives the canonical
form). An identifier that is not a GS1 key (a partner's own URI) is kept as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cloud.trace.epcis.identifiers import parse_epc

#: event field -> role in ``trace_event_objects``; quantity lists name classes
#: (``epcClass``), the others instances (or a parent).
ROLE_OF_FIELD: dict[str, str] = {
    "epcList": "epc",
    "childEPCs": "child",
    "parentID": "parent",
    "inputEPCList": "input_epc",
    "outputEPCList": "output_epc",
    "quantityList": "quantity",
    "childQuantityList": "quantity",
    "inputQuantityList": "input_quantity",
    "outputQuantityList": "output_quantity",
}
QUANTITY_ROLES = ("quantity", "input_quantity", "output_quantity")
INSTANCE_ROLES = ("epc", "child", "parent", "input_epc", "output_epc")


@dataclass(frozen=True, slots=True)
class Named:
    """One identifier an event names: ``path`` is where (``quantityList[0].epcClass``)."""

    role: str
    uri: str
    gtin: str | None
    lot: str | None
    path: str


def normalise(uri: str) -> tuple[str, str | None, str | None]:
    """(canonical form, GTIN-14 or None, lot or None) of an identifier; a URI that is
    not a GS1 key comes back as it is."""
    try:
        epc = parse_epc(uri)
    except ValueError:
        return uri, None, None
    return epc.canonical, epc.gtin, epc.lot


def _uris(event: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    for field, role in ROLE_OF_FIELD.items():
        value = event.get(field)
        if value is None:
            continue
        if field == "parentID":
            if isinstance(value, str):
                yield role, value, field
        elif field.endswith("QuantityList") or field == "quantityList":
            if isinstance(value, list):
                for i, q in enumerate(value):
                    if isinstance(q, dict) and isinstance(q.get("epcClass"), str):
                        yield role, q["epcClass"], f"{field}[{i}].epcClass"
        elif isinstance(value, list):
            for i, uri in enumerate(value):
                if isinstance(uri, str):
                    yield role, uri, f"{field}[{i}]"


def named_objects(event: dict[str, Any]) -> list[Named]:
    """Every identifier the event names, each once per role."""
    out: list[Named] = []
    seen: set[tuple[str, str]] = set()
    for role, raw, path in _uris(event):
        uri, gtin, lot = normalise(raw)
        if (role, uri) in seen:
            continue
        seen.add((role, uri))
        out.append(Named(role, uri, gtin, lot, path))
    return out


def location(value: Any) -> str | None:
    """The normalised id of a readPoint or bizLocation (``{"id": uri}``)."""
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return normalise(value["id"])[0]
    return None


#: CBV 2.0 vocabularies: the forms of one value, e.g. ``shipping``,
#: ``https://ref.gs1.org/cbv/BizStep-shipping`` and ``urn:epcglobal:cbv:bizstep:shipping``.
_CBV_FORMS = {
    "bizStep": ("https://ref.gs1.org/cbv/BizStep-", "urn:epcglobal:cbv:bizstep:"),
    "disposition": ("https://ref.gs1.org/cbv/Disp-", "urn:epcglobal:cbv:disp:"),
    "errorReason": ("https://ref.gs1.org/cbv/ER-", "urn:epcglobal:cbv:er:"),
}


def cbv_word(value: Any, vocabulary: str) -> str | None:
    """A CBV value as its bare word (``shipping``), whichever form it was written in;
    an extension value (any other URI) as it is."""
    if not isinstance(value, str):
        return None
    for prefix in _CBV_FORMS[vocabulary]:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value
