"""EPCIS 2.0 / CBV 2.0 rules (floor 4, pure functions, no database).

- :func:`validate_document`, :func:`validate_event`: GS1's JSON Schema plus the CBV,
  identifier, time and structure checks the schema lets through (:mod:`.validation`).
- :mod:`.identifiers`: EPC URNs and GS1 Digital Link URIs in one canonical form,
  :func:`parse_epc`, :func:`lot_key`, :func:`dl_uri`.
- :func:`event_hash`: the CBV 2.0 event hash (:mod:`.hashing`).
- :func:`epcis_document`, :func:`query_document`: documents with the standard @context.

See README.md.
"""

from cloud.trace.epcis.documents import (
    EPCIS_CONTEXT,
    document_context,
    document_events,
    epcis_document,
    query_document,
)
from cloud.trace.epcis.errors import FieldError
from cloud.trace.epcis.hashing import document_event_hashes, event_hash, prehash_string
from cloud.trace.epcis.identifiers import (
    DEFAULT_DL_BASE,
    Epc,
    EpcError,
    canonical_uri,
    dl_uri,
    lot_key,
    parse_epc,
)
from cloud.trace.epcis.validation import validate_document, validate_event

__all__ = [
    "DEFAULT_DL_BASE",
    "EPCIS_CONTEXT",
    "Epc",
    "EpcError",
    "FieldError",
    "canonical_uri",
    "dl_uri",
    "document_context",
    "document_event_hashes",
    "document_events",
    "epcis_document",
    "event_hash",
    "lot_key",
    "parse_epc",
    "prehash_string",
    "query_document",
    "validate_document",
    "validate_event",
]
