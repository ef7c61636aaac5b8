"""Full-defect equivalents and grade from a grading table (SCA-modelled default).

A grading sample (SCA: 350 g, ``sample_beans`` beans) spans several trays, so
counts add up per lot (:class:`LotTotals`). Counts of a sample with a different
number of beans are scaled to ``sample_beans`` before the table is applied; per
class, full defects are ``floor(count / per_full)`` as the SCA counts them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edge.vision.config import GradingTable


@dataclass(frozen=True, slots=True)
class Graded:
    grade: str
    full_defects: int
    category1: int
    category2: int
    #: the factor the counts were scaled by (sample_beans / beans)
    scale: float


def grade(counts: dict[str, int], beans: int, table: GradingTable) -> Graded:
    """``counts``: defects per class; ``beans``: beans examined (defective included)."""
    scale = table.sample_beans / beans if beans > 0 else 1.0
    full = cat1 = cat2 = 0
    for name, rule in table.defects.items():
        n = counts.get(name, 0)
        if n == 0:
            continue
        f = math.floor(n * scale / rule.per_full + 1e-9)
        full += f
        if rule.category == 1:
            cat1 += n
        else:
            cat2 += n
    for band in table.grades:
        if band.max_full is not None and full > band.max_full:
            continue
        if not band.allow_category1 and cat1 > 0:
            continue
        return Graded(band.name, full, cat1, cat2, round(scale, 4))
    raise AssertionError("the grading table's last band takes every sample")  # validated


@dataclass(slots=True)
class LotTotals:
    """Counts of every tray of one lot, added up."""

    lot: str
    trays: int = 0
    beans: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, beans: int, counts: dict[str, int]) -> None:
        self.trays += 1
        self.beans += beans
        for k, v in counts.items():
            self.counts[k] = self.counts.get(k, 0) + v

    def graded(self, table: GradingTable) -> Graded:
        return grade(self.counts, self.beans, table)
