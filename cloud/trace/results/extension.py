"""The ``dh:testResult`` EPCIS extension (pure): lab or rapid-test results carried by a
sampling or inspecting event.

EPCIS 2.0 lets an event carry extension fields named with a namespace prefix the
document's ``@context`` declares. Ours is :data:`cloud.trace.epcis.documents.DH_NS`; documents declare it, usually
as ``{"dh": "https://dehong.local/ns/epcis/"}`` (any prefix bound to that namespace works, as does
the full IRI ``https://dehong.local/ns/epcis/testResult``). The field holds one result or a list::

    "dh:testResult": [
      {"dh:test": "pesticide_residue", "dh:analyte": "chlorpyrifos",
       "dh:value": 0.01, "dh:unit": "mg/kg", "dh:limit": 0.05,
       "dh:method": "rapid", "dh:standard": "GB 2763-2021"},
      {"dh:test": "moisture", "dh:value": 11.2, "dh:unit": "%",
       "dh:min": 10.0, "dh:limit": 12.5}
    ]

- ``test`` (required): a code, ``[a-z][a-z0-9_]*`` (``pesticide_residue``,
  ``veterinary_drug_residue``, ``heavy_metal``, ``moisture``, ``microbial``, ...);
- ``analyte``, ``unit``, ``method`` (``rapid`` 速测 or ``lab`` 实验室), ``lab``,
  ``standard``, ``report``: text;
- ``value``: the measured number; ``limit``: the largest value that passes; ``min``:
  the smallest;
- ``passed``: true or false. With a value and a limit it is computed (a ``passed``
  that disagrees is refused); a qualitative result (a rapid test read as 阴性/阳性)
  gives ``passed`` alone.

Only ``sampling`` and ``inspecting`` events carry results. Errors name the field
(``eventList[2].dh:testResult[0].dh:value``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from cloud.trace.epcis.documents import DH_NS, DH_PREFIX

FIELD = "testResult"
BIZ_STEPS = ("sampling", "inspecting")
_CBV_FORMS = ("https://ref.gs1.org/cbv/BizStep-", "urn:epcglobal:cbv:bizstep:")
_TEST = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_TEXT_FIELDS = {"analyte": 100, "unit": 16, "lab": 200, "standard": 100, "report": 100}
_NUMBER_FIELDS = ("value", "limit", "min")
_KNOWN = {"test", "passed", "method", *_TEXT_FIELDS, *_NUMBER_FIELDS}
MAX_RESULTS = 200


@dataclass(frozen=True, slots=True)
class TestResult:
    test: str
    passed: bool
    analyte: str | None = None
    value: float | None = None
    unit: str | None = None
    limit_max: float | None = None
    limit_min: float | None = None
    method: str | None = None
    lab: str | None = None
    standard: str | None = None
    report: str | None = None


class ResultError(ValueError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def prefixes(contexts: list[Any]) -> set[str]:
    """The prefixes bound to :data:`DH_NS` in these @context entries."""
    found: set[str] = set()
    for ctx in contexts:
        if isinstance(ctx, dict):
            found |= {k for k, v in ctx.items() if v == DH_NS}
    return found


def _contexts(event: dict[str, Any], context: list[Any] | None) -> list[Any]:
    out: list[Any] = list(context or [])
    own = event.get("@context")
    if isinstance(own, list):
        out.extend(own)
    elif own is not None:
        out.append(own)
    return out


def result_key(event: dict[str, Any], context: list[Any] | None) -> str | None:
    """The key under which ``event`` carries test results, if it does."""
    names = {f"{p}:{FIELD}" for p in prefixes(_contexts(event, context))} | {DH_NS + FIELD}
    for key in event:
        if key in names:
            return key
    return None


def _biz_step(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    for form in _CBV_FORMS:
        if value.startswith(form):
            return value[len(form) :]
    return value


def _local(key: str, bound: set[str]) -> str | None:
    if key.startswith(DH_NS):
        return key[len(DH_NS) :]
    prefix, sep, local = key.partition(":")
    return local if sep and prefix in bound else None


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ResultError(path, "must be a finite number")
    return float(value)


def _one(raw: Any, path: str, bound: set[str]) -> TestResult:
    if not isinstance(raw, dict):
        raise ResultError(path, "a test result is an object")
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        local = _local(key, bound)
        if local is None or local not in _KNOWN:
            known = ", ".join(sorted(_KNOWN))
            raise ResultError(
                f"{path}.{key}",
                f"not a field of a test result; use {DH_PREFIX}:<field> with one of: {known}",
            )
        fields[local] = (key, value)

    def where(name: str) -> str:
        return f"{path}.{fields[name][0]}" if name in fields else f"{path}.{DH_PREFIX}:{name}"

    if "test" not in fields:
        raise ResultError(where("test"), "required: the test code (e.g. pesticide_residue)")
    test = fields["test"][1]
    if not isinstance(test, str) or not _TEST.match(test):
        raise ResultError(
            where("test"), "a test code is lower-case letters, digits and _ (pesticide_residue)"
        )
    numbers: dict[str, float | None] = {}
    for name in _NUMBER_FIELDS:
        numbers[name] = _number(fields[name][1], where(name)) if name in fields else None
    texts: dict[str, str | None] = {}
    for name, longest in _TEXT_FIELDS.items():
        value = fields.get(name, (None, None))[1]
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= longest):
            raise ResultError(where(name), f"must be text of 1 to {longest} characters")
        texts[name] = value
    method = fields.get("method", (None, None))[1]
    if method is not None and method not in ("rapid", "lab"):
        raise ResultError(where("method"), "is rapid (速测) or lab (实验室)")
    lo, hi, value = numbers["min"], numbers["limit"], numbers["value"]
    if lo is not None and hi is not None and lo > hi:
        raise ResultError(where("min"), f"the minimum {lo} is above the limit {hi}")
    given = fields.get("passed", (None, None))[1]
    if given is not None and not isinstance(given, bool):
        raise ResultError(where("passed"), "is true or false")
    if (lo is not None or hi is not None) and value is None:
        raise ResultError(where("value"), "required with a limit: the measured value")
    computed = None
    if value is not None and (lo is not None or hi is not None):
        computed = (lo is None or value >= lo) and (hi is None or value <= hi)
    if computed is not None and given is not None and computed != given:
        raise ResultError(
            where("passed"),
            f"says {str(given).lower()} but the value {value} is "
            f"{'within' if computed else 'outside'} the limits",
        )
    passed = computed if computed is not None else given
    if passed is None:
        raise ResultError(
            where("passed"),
            "give the limit (and the value) or, for a qualitative result, passed",
        )
    return TestResult(
        test=test,
        passed=passed,
        analyte=texts["analyte"],
        value=value,
        unit=texts["unit"],
        limit_max=hi,
        limit_min=lo,
        method=method,
        lab=texts["lab"],
        standard=texts["standard"],
        report=texts["report"],
    )


def parse_results(
    event: dict[str, Any], path: str, context: list[Any] | None = None
) -> list[TestResult]:
    """The event's test results ([] when it carries none); ResultError naming the
    field otherwise."""
    key = result_key(event, context)
    if key is None:
        return []
    where = f"{path}.{key}" if path else key
    step = _biz_step(event.get("bizStep"))
    if step not in BIZ_STEPS:
        raise ResultError(
            where,
            f"test results ride on a sampling or inspecting event, not bizStep {step!r}",
        )
    raw = event[key]
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise ResultError(where, "an empty list: leave the field out or give results")
    if len(items) > MAX_RESULTS:
        raise ResultError(where, f"at most {MAX_RESULTS} results per event")
    bound = prefixes(_contexts(event, context))
    return [
        _one(item, f"{where}[{i}]" if isinstance(raw, list) else where, bound)
        for i, item in enumerate(items)
    ]


def check_event(
    event: dict[str, Any], path: str, context: list[Any] | None
) -> list[tuple[str, str]]:
    """(field, reason) of the event's bad test results, for ``store_events``."""
    try:
        parse_results(event, path, context)
    except ResultError as exc:
        return [(exc.path, exc.reason)]
    return []


def result_json(r: TestResult) -> dict[str, Any]:
    """A result as our own events carry it (prefix ``dh``)."""
    out: dict[str, Any] = {f"{DH_PREFIX}:test": r.test}
    for name, value in (
        ("analyte", r.analyte),
        ("value", r.value),
        ("unit", r.unit),
        ("min", r.limit_min),
        ("limit", r.limit_max),
        ("method", r.method),
        ("lab", r.lab),
        ("standard", r.standard),
        ("report", r.report),
    ):
        if value is not None:
            out[f"{DH_PREFIX}:{name}"] = value
    out[f"{DH_PREFIX}:passed"] = r.passed
    return out
