"""CBV 2.0 and GS1 Web Vocabulary terms, read from the vendored JSON-LD contexts.

Each vocabulary is the set of bare words a JSON/JSON-LD event may use for one field, with
the web URI each word stands for (``shipping`` is ``https://ref.gs1.org/cbv/BizStep-shipping``).
The words come from ``standards/context/*.jsonld`` (GS1's published contexts), not from a
list typed here, so that a newer vendored context brings its new terms along.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

CBV_NS = "https://ref.gs1.org/cbv/"
#: Namespace the sensor measurement and alert types are expanded to in the CBV event hash
#: (GS1's reference implementation, see hashing.py); the vendored 2.0 context says
#: ``https://gs1.org/voc/``, which validation accepts too.
GS1_VOC_NS = "https://gs1.org/voc/"


@dataclass(frozen=True)
class Vocabulary:
    """One CBV vocabulary: its name in messages, its words and the URI prefix of its terms."""

    name: str
    words: frozenset[str]
    uris: dict[str, str]  # word -> full web URI (vendored context)

    def example(self, near: str | None = None) -> str:
        """A word to suggest in an error message: the closest one if ``near`` is given."""
        import difflib

        if near:
            close = difflib.get_close_matches(near.lower(), sorted(self.words), n=1, cutoff=0.6)
            if close:
                return close[0]
        return sorted(self.words)[0]

    def word_of_uri(self, uri: str) -> str | None:
        for word, full in self.uris.items():
            if full == uri:
                return word
        return None


def _context_terms(filename: str) -> dict[str, str]:
    text = (
        resources.files("cloud.trace.epcis")
        .joinpath("standards", "context", filename)
        .read_text(encoding="utf-8")
    )
    ctx = json.loads(text)["@context"]
    prefixes = {k: v for k, v in ctx.items() if isinstance(v, str) and v.endswith("/")}
    terms: dict[str, str] = {}
    for key, value in ctx.items():
        if key.startswith("@") or key in prefixes or not isinstance(value, str):
            continue
        prefix, _, local = value.partition(":")
        terms[key] = prefixes[prefix] + local if prefix in prefixes else value
    return terms


def _vocabulary(name: str, filename: str) -> Vocabulary:
    terms = _context_terms(filename)
    return Vocabulary(name, frozenset(terms), terms)


@cache
def vocabularies() -> dict[str, Vocabulary]:
    """Every vocabulary, by the field kind it governs."""
    return {
        "bizStep": _vocabulary("bizStep", "cbv-context-bizstep.jsonld"),
        "disposition": _vocabulary("disposition", "cbv-context-disposition.jsonld"),
        "bizTransactionType": _vocabulary(
            "business transaction type", "cbv-context-biztransaction-type.jsonld"
        ),
        "sourceDestType": _vocabulary(
            "source/destination type", "cbv-context-sourcedest-type.jsonld"
        ),
        "errorReason": _vocabulary("error reason", "cbv-context-error-reason.jsonld"),
        "component": _vocabulary("sensor component", "cbv-context-component.jsonld"),
        "measurementType": _vocabulary(
            "sensor measurement type", "gs1-context-measurement-type.jsonld"
        ),
        "sensorAlertType": _vocabulary("sensor alert type", "gs1-context-sensor-alert-type.jsonld"),
    }
