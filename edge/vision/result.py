"""What a program returns for one image, and its form on the wire (``Inspection``)."""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from protocol.messages import Inspection

#: the wire's Inspection allows 64-character keys and float measurements
_KEY_MAX = 64


@dataclass(slots=True)
class ProgramResult:
    program: str
    usable: bool
    reason: str | None = None
    lot: str | None = None
    grade: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    measurements: dict[str, float] = field(default_factory=dict)
    #: per object (bean, fruit): class, size, position; for the CLI and the tests
    objects: list[dict[str, Any]] = field(default_factory=list)
    #: seconds spent per stage
    timings: dict[str, float] = field(default_factory=dict)
    #: the image with what was found drawn on it (BGR), for the thumbnail
    annotated: np.ndarray | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "program": self.program,
            "usable": self.usable,
            "unusable_reason": self.reason,
            "lot": self.lot,
            "grade": self.grade,
            "counts": self.counts,
            "measurements": self.measurements,
            "objects": self.objects,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }

    def to_inspection(self, original: bytes, thumbnail_jpeg: bytes | None) -> Inspection:
        """The wire form: SHA-256 of the original bytes, thumbnail as base64."""
        return Inspection(
            program=self.program,
            lot=self.lot,
            usable=self.usable,
            unusable_reason=self.reason,
            grade=self.grade,
            counts={k[:_KEY_MAX]: int(v) for k, v in self.counts.items()},
            measurements={
                k[:_KEY_MAX]: float(v) for k, v in self.measurements.items() if math.isfinite(v)
            },
            image_sha256=hashlib.sha256(original).hexdigest(),
            thumbnail_jpeg=base64.b64encode(thumbnail_jpeg).decode() if thumbnail_jpeg else None,
        )


def unusable(program: str, reason: str, **kw: Any) -> ProgramResult:
    return ProgramResult(program=program, usable=False, reason=reason, **kw)
