"""The test results' input, shared by ``POST /trace/lots/{gtin}/{lot}/tests`` and the
``test`` operation (``POST /trace/ops/test``): each result as the API takes it, turned
into the ``dh:testResult`` extension and checked by :func:`parse_results` (its errors
named in body terms: ``body.results[2].limit``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cloud.errors import ApiError
from cloud.trace.epcis.documents import DH_CONTEXT, DH_PREFIX
from cloud.trace.results.extension import (
    FIELD,
    ResultError,
    TestResult,
    parse_results,
)

_RESULT_PATH = re.compile(rf"^{DH_PREFIX}:{FIELD}\[(\d+)\](?:\.{DH_PREFIX}:(\w+))?")


class ResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    test: str = Field(description="pesticide_residue, veterinary_drug_residue, heavy_metal, "
                      "moisture, microbial, ...")  # fmt: skip
    analyte: str | None = None
    value: float | None = None
    unit: str | None = None
    limit: float | None = Field(default=None, description="The largest value that passes")
    min: float | None = Field(default=None, description="The smallest value that passes")
    passed: bool | None = Field(default=None, description="For a qualitative result")
    method: Literal["rapid", "lab"] | None = None
    lab: str | None = None
    standard: str | None = None
    report: str | None = None


def _raw(result: ResultIn) -> dict[str, Any]:
    return {f"{DH_PREFIX}:{k}": v for k, v in result.model_dump(exclude_none=True).items()}


def _body_field(path: str, prefix: str) -> str:
    found = _RESULT_PATH.match(path)
    if found is None:
        return f"{prefix}results"
    index, name = found.groups()
    return f"{prefix}results[{index}]" + (f".{name}" if name else "")


def checked_results(
    biz_step: str, results: Sequence[ResultIn], prefix: str = "body."
) -> list[TestResult]:
    """The results as the extension checks them; 422 naming ``{prefix}results[i].field``."""
    event = {"bizStep": biz_step, f"{DH_PREFIX}:{FIELD}": [_raw(r) for r in results]}
    try:
        return parse_results(event, "", [DH_CONTEXT])
    except ResultError as exc:
        field = _body_field(exc.path, prefix)
        raise ApiError(422, f"{field}: {exc.reason}", field=field) from None
