"""Splitting touching beans, and holes vs the crease, on drawn shapes (fast)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.vision import coffee, segment

PPM = 7.0
BEAN = 0.785 * 9.6 * 6.6 * PPM * PPM


def _beans(centres: list[tuple[int, int, float]], size: tuple[int, int] = (260, 260)) -> np.ndarray:
    """Filled ellipses (9.6 x 6.6 mm) at (x, y, angle), blurred and thresholded like a
    photo's foreground: touching beans merge into one mask."""
    img = np.zeros(size, np.uint8)
    for x, y, ang in centres:
        cv2.ellipse(img, ((x, y), (9.6 * PPM, 6.6 * PPM), ang), 255, -1, cv2.LINE_AA)
    img = cv2.GaussianBlur(img, (0, 0), 1.5)
    return ((img > 100) * 255).astype(np.uint8)


def _split(mask: np.ndarray) -> list[np.ndarray]:
    return segment.split_concave(
        mask,
        coffee.NOTCH_MIN_MM * PPM,
        coffee.PIECE_MIN_MM2 * PPM * PPM,
        coffee.NOTCH_RATIO,
        single_area=1.1 * BEAN,
        min_width=coffee.THIN_MM * PPM,
        small_area=coffee.MIN_AREA_MM2 * PPM * PPM,
    )


@pytest.mark.parametrize(
    ("centres", "expected"),
    [
        ([(130, 130, 30.0)], 1),
        ([(100, 130, 0.0), (167, 130, 0.0)], 2),  # end to end
        ([(130, 84, 0.0), (130, 130, 0.0), (130, 176, 0.0)], 3),  # side by side, a row
        ([(90, 100, 0.0), (90, 157, 90.0), (157, 100, 0.0)], 3),  # a T and end to end
    ],
)
def test_touching_beans_are_split_at_their_notches(centres, expected: int) -> None:  # type: ignore[no-untyped-def]
    mask = _beans(centres)
    n, _ = cv2.connectedComponents(mask)
    assert n == 2  # one merged object
    pieces = _split(mask)
    assert len(pieces) == expected
    labels, k = segment.label_pieces(mask, pieces)
    assert k == expected and set(np.unique(labels[mask > 0])) == set(range(1, k + 1))


def test_a_stick_touching_a_bean_end_on_is_cut_off_whole() -> None:
    mask = _beans([(80, 130, 0.0)])
    cv2.rectangle(mask, (113, 123), (113 + 16 * 7, 137), 255, -1)  # 16 x 2 mm
    pieces = sorted(_split(mask), key=cv2.countNonZero)
    assert len(pieces) == 2
    (_, _), (w, h), _ = cv2.minAreaRect(cv2.findNonZero(pieces[0]))
    assert max(w, h) > 14 * PPM  # the whole stick, not a fragment


def _bean_v(spot: str) -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros((90, 120), np.uint8)
    cv2.ellipse(mask, ((60, 45), (9.6 * PPM, 6.6 * PPM), 0), 255, -1)
    v = np.where(mask > 0, 180, 150).astype(np.uint8)
    if spot == "crease":
        cv2.line(v, (35, 45), (85, 45), 150, 2)  # 12 % darker, a line
    elif spot == "hole":
        cv2.circle(v, (50, 40), 3, 30, -1)
    v = cv2.GaussianBlur(v, (0, 0), 1.2)
    return v, mask


@pytest.mark.parametrize(("spot", "holes"), [("none", 0), ("crease", 0), ("hole", 1)])
def test_a_crease_is_not_a_hole(spot: str, holes: int) -> None:
    v, mask = _bean_v(spot)
    depth, count = coffee._hole_depth(v, mask, PPM)
    assert count == holes
    assert (depth > coffee.HOLE_DEPTH) == (holes > 0)
