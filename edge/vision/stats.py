"""Medians and percentiles of one object's pixels, equal to NumPy's to the bit and
several times faster on the small arrays a bean gives (``np.median`` and
``np.percentile`` spend most of their time on argument handling there).

Integer pixels (uint8, or hue wrapped to -30..150) go through a histogram; float
pixels through one ``np.partition``. The results are NumPy's: a median of an even
count is the mean of the two middle values (in float32 for float32 input, as
``np.mean`` does: exact for integers), a percentile is NumPy's ``linear`` method
(the 7th of Hyndman and Fan) with its own float32 interpolation (``_lerp``).
``tests/vision/test_stats.py`` checks them against NumPy."""

from __future__ import annotations

import math

import numpy as np


def _ranks(n: int, q: float) -> tuple[int, int, float]:
    """NumPy's linear-method neighbours and weight for percentile ``q`` of ``n``."""
    qq = q / 100
    virtual = n * qq + (1 + qq * -1) - 1
    if virtual >= n - 1:
        return n - 1, n - 1, 0.0
    if virtual < 0:
        return 0, 0, 0.0
    prev = math.floor(virtual)
    return prev, prev + 1, virtual - prev


def _lerp32(a: np.float32, b: np.float32, t: float) -> float:
    """NumPy's ``_lerp`` in float32 (the side nearer ``t`` anchors it)."""
    d = b - a
    if t >= 0.5:
        return float(b - d * np.float32(1 - t))
    return float(a + d * np.float32(t))


def _hist_value(cum: np.ndarray, rank: int, offset: int) -> int:
    """The value of the ``rank``-th smallest (0-based) from a cumulative histogram."""
    return int(np.searchsorted(cum, rank, side="right")) + offset


class IntPixels:
    """Order statistics of integer pixels from one histogram. ``values``: uint8, or
    any integer array with values in ``offset``..``offset + 255``."""

    __slots__ = ("cum", "n", "offset")

    def __init__(self, values: np.ndarray, offset: int = 0) -> None:
        v = values if offset == 0 else values.astype(np.int16) - offset
        self.cum = np.cumsum(np.bincount(v.ravel(), minlength=256))
        self.n = int(self.cum[-1])
        self.offset = offset

    def median(self) -> float:
        """= ``float(np.median(values))`` (also of the values as float32)."""
        n = self.n
        if n == 0:
            return math.nan
        hi = _hist_value(self.cum, n // 2, self.offset)
        if n % 2:
            return float(hi)
        lo = _hist_value(self.cum, n // 2 - 1, self.offset)
        return (lo + hi) / 2

    def percentile(self, q: float) -> float:
        """= ``float(np.percentile(values.astype(np.float32), q))``."""
        if self.n == 0:
            raise ValueError("percentile: no pixels")
        i, j, t = _ranks(self.n, q)
        a = np.float32(_hist_value(self.cum, i, self.offset))
        b = np.float32(_hist_value(self.cum, j, self.offset))
        return _lerp32(a, b, t)


def median32(x: np.ndarray) -> float:
    """= ``float(np.median(x))`` for a 1-D float32 array without NaN."""
    n = x.size
    if n == 0:
        return math.nan
    m = n // 2
    if n % 2:
        return float(np.partition(x, m)[m])
    part = np.partition(x, (m - 1, m))
    return float((part[m - 1] + part[m]) / np.float32(2))


def percentile32(x: np.ndarray, q: float) -> float:
    """= ``float(np.percentile(x, q))`` for a 1-D float32 array without NaN."""
    if x.size == 0:
        raise ValueError("percentile: no pixels")
    i, j, t = _ranks(x.size, q)
    part = np.partition(x, (i, j)) if i != j else np.partition(x, i)
    return _lerp32(part[i], part[j], t)


def hue_median(h: np.ndarray) -> float:
    """= ``float(np.median(hv))`` where ``hv`` is the OpenCV hue ``h`` (uint8,
    0-179) as float32 with red wrapped below 0 (``hv[hv > 150] -= 180``)."""
    counts = np.bincount(h.ravel(), minlength=180)
    # 151..179 (-29..-1 wrapped) first, then 0..150: index i is hue i - 29
    cum = np.cumsum(np.concatenate([counts[151:180], counts[:151]]))
    n = int(cum[-1])
    if n == 0:
        return math.nan
    hi = _hist_value(cum, n // 2, -29)
    if n % 2:
        return float(hi)
    return (_hist_value(cum, n // 2 - 1, -29) + hi) / 2
