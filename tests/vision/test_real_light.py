"""Issue 17: a lamp to one side, a camera's white balance, pale beans, dark creases
and holes on them, on the simulator's conditions at their limits (small trays,
tuning seeds), and a hole beside a crease drawn by hand."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.vision import coffee
from edge.vision.config import VisionConfig
from simulators.camera.coffee import SMALL, make_coffee
from simulators.camera.conditions import LIMITS

CFG = VisionConfig()


@pytest.mark.parametrize(
    ("limit", "classes"),
    [
        # shaded flanks were partial black, cast shadows joined beans
        ("elevation", ("partial_black", "normal")),
        ("diffuse", ("partial_black", "normal")),
        # blue up, red down: sound beans were stones
        ("white_balance", ("foreign_matter", "normal")),
        # pale bluish-green beans were stones
        ("bean_colour", ("foreign_matter", "normal")),
        # dark, long creases and the stub at a break were holes
        ("crease", ("insect_damage", "broken", "normal")),
        # holes on the crease were dismissed with it
        ("holes", ("insect_damage", "normal")),
    ],
)
def test_conditions_at_their_limit(limit: str, classes: tuple[str, ...]) -> None:
    scene = make_coffee(3, SMALL, conditions=LIMITS[limit])
    r = coffee.inspect(scene.image, CFG)
    assert r.usable, r.reason
    assert r.counts["beans"] == scene.truth["beans"]
    for cls in classes:
        assert r.counts[cls] == scene.truth["counts"][cls], cls


def _bean(crease: float, hole_offset: float | None) -> tuple[str, int]:
    """A flat-lit bean (7 px/mm, 9.6 × 6.6 mm) with a crease ``crease`` dark (0-1)
    along its major axis and, if given, a 1 mm hole ``hole_offset`` px beside it."""
    ppm = 7.0
    mask = np.zeros((80, 100), np.uint8)
    cv2.ellipse(mask, ((50, 40), (9.6 * ppm, 6.6 * ppm), 0), 255, -1)
    v = np.where(mask > 0, 180.0, 0.0).astype(np.float32)
    line = np.zeros_like(v)
    cv2.line(line, (26, 40), (74, 40), 1.0, 3)
    v *= 1.0 - crease * cv2.GaussianBlur(line, (0, 0), 0.8)
    if hole_offset is not None:
        cv2.circle(v, (56, round(40 + hole_offset)), 3, 30.0, -1)
    v = cv2.GaussianBlur(v, (0, 0), 1.0)
    hsv = np.zeros((80, 100, 3), np.uint8)
    hsv[..., 0], hsv[..., 1] = 36, 75
    hsv[..., 2] = np.clip(v, 0, 255).astype(np.uint8)
    hsv[mask == 0] = 0
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outside = cv2.dilate((mask == 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    cls, holes, _ = coffee.classify(hsv, mask, outside, contours[0], ppm)
    return cls, holes


def test_a_dark_crease_is_not_a_hole() -> None:
    assert _bean(0.55, None) == ("normal", 0)


@pytest.mark.parametrize("offset", [0.0, 3.0])
def test_a_hole_on_or_beside_the_crease_is_a_hole(offset: float) -> None:
    """A hole touching the crease joined it into one long streak, and long streaks
    were dismissed as the crease."""
    assert _bean(0.4, offset) == ("insect_damage", 1)


def _outline(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A filled polygon's contour and an all-tray ``outside`` mask around it."""
    mask = np.zeros((200, 200), np.uint8)
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32).reshape(-1, 1, 2)], 255)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return contours[0], np.ones(mask.shape, bool)


def test_a_broken_bean_has_two_corners_a_stone_more() -> None:
    t = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    bean = np.stack([100 + 36 * np.cos(t), 100 + 25 * np.sin(t)], axis=1)
    broken = bean[bean[:, 0] < 115]  # the chord of a break at x = 115
    t6 = np.linspace(0, 2 * np.pi, 6, endpoint=False) + 0.3
    stone = np.stack([100 + 30 * np.cos(t6), 100 + 30 * np.sin(t6)], axis=1)
    r = CFG.coffee.rules
    assert coffee._corner_count(*_outline(bean), r.corner_deg) == 0
    assert coffee._corner_count(*_outline(broken), r.corner_deg) == 2
    assert coffee._corner_count(*_outline(stone), r.corner_deg) > r.bean_corners
