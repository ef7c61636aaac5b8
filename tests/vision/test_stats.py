"""edge.vision.stats: NumPy's medians and percentiles, to the bit."""

from __future__ import annotations

import numpy as np
import pytest

from edge.vision import stats


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 10, 11, 99, 100, 101, 1000, 3001])
def test_equal_to_numpy(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(20):
        u8 = rng.integers(0, 256, n).astype(np.uint8)
        f32 = u8.astype(np.float32)
        h = stats.IntPixels(u8)
        assert h.median() == float(np.median(u8)) == float(np.median(f32))
        for q in (0.5, 10, 20, 50, 80, 90, 99):
            assert h.percentile(q) == float(np.percentile(f32, q)), (n, q)
        # hue with red wrapped below 0
        hue = f32.copy()
        hue[hue > 150] -= 180
        wrapped = np.where(u8 > 150, u8.astype(np.int16) - 180, u8)
        assert stats.IntPixels(wrapped, -30).median() == float(np.median(hue))
        h180 = (u8 % 180).astype(np.uint8)
        hue180 = h180.astype(np.float32)
        hue180[hue180 > 150] -= 180
        assert stats.hue_median(h180) == float(np.median(hue180))
        x = (rng.random(n) * 3).astype(np.float32)
        assert stats.median32(x) == float(np.median(x))
        for q in (10, 50, 80, 90):
            assert stats.percentile32(x, q) == float(np.percentile(x, q)), (n, q)


def test_empty() -> None:
    assert np.isnan(stats.IntPixels(np.zeros(0, np.uint8)).median())
    with pytest.raises(ValueError, match="no pixels"):
        stats.percentile32(np.zeros(0, np.float32), 90)


def test_colour_distance_and_dot_equal_to_numpy() -> None:
    """The speed-ups' sums (segment._sq_dist, coffee._dot2) are NumPy's to the bit,
    signed zeros included (``arctan2`` tells +0.0 from -0.0)."""
    from edge.vision import coffee, segment

    rng = np.random.default_rng(17)
    for shape in ((1, 3), (7, 3), (1000, 3), (40, 55, 3)):
        px = (rng.random(shape) * 300).astype(np.float32)
        c = rng.random(3) * 300
        assert np.array_equal(segment._sq_dist(px, c), ((px - c) ** 2).sum(axis=-1))
    a = rng.normal(size=(500, 2))
    b = rng.normal(size=(500, 2))
    a[:4] = [[-0.0, 0.0], [0.0, -0.0], [-0.0, -0.0], [0.0, 0.0]]
    b[:4] = [[1.0, -0.0], [-1.0, 1.0], [2.0, 3.0], [-0.0, -0.0]]
    want = (a * b).sum(axis=1)
    got = coffee._dot2(a, b)
    assert np.array_equal(got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want))
