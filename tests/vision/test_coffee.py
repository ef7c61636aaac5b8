"""Coffee program on fixed simulator seeds (small trays, so CI stays fast)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.vision import coffee
from edge.vision.config import VisionConfig
from simulators.camera.coffee import DEFECT_CLASSES, SMALL, make_coffee

CFG = VisionConfig()


@pytest.fixture(scope="module")
def scene():  # type: ignore[no-untyped-def]
    return make_coffee(4, SMALL)


def test_every_defect_class_counted_exactly(scene) -> None:  # type: ignore[no-untyped-def]
    r = coffee.inspect(scene.image, CFG)
    assert r.usable and r.lot == "LOT-000004"
    for cls in (*DEFECT_CLASSES, "normal"):
        assert r.counts[cls] == scene.truth["counts"][cls], cls
    assert r.counts["beans"] == scene.truth["beans"]
    assert r.grade is not None and r.measurements["full_defects"] > 0
    assert 6.0 < r.measurements["width_mm_median"] < 7.2


def test_sizes_within_three_percent(scene) -> None:  # type: ignore[no-untyped-def]
    r = coffee.inspect(scene.image, CFG)
    truth = scene.truth["objects"]
    errors = []
    for obj in r.objects:
        t = min(truth, key=lambda o: (o["cx"] - obj["cx"]) ** 2 + (o["cy"] - obj["cy"]) ** 2)
        if t["cls"] != "foreign_matter" and obj["cls"] != "foreign_matter":
            errors.append(abs(obj["width_mm"] / t["width_mm"] - 1))
    assert np.median(errors) < 0.03


def test_lot_from_a_command_wins_over_the_qr_code(scene) -> None:  # type: ignore[no-untyped-def]
    assert coffee.inspect(scene.image, CFG, lot="CMD-LOT").lot == "CMD-LOT"


@pytest.mark.parametrize(
    ("reason", "spoil"),
    [
        ("too_dark", lambda im: (im * 0.12).astype(np.uint8)),
        ("overexposed", lambda im: cv2.add(im, np.full_like(im, 160))),
        ("blurred", lambda im: cv2.GaussianBlur(im, (0, 0), 6)),
        ("no_marker", lambda im: _without_marker(im)),
    ],
)
def test_quality_gate(scene, reason: str, spoil) -> None:  # type: ignore[no-untyped-def]
    r = coffee.inspect(spoil(scene.image), CFG)
    assert not r.usable
    assert r.reason == reason
    assert r.grade is None


def _without_marker(im: np.ndarray) -> np.ndarray:
    out = im.copy()
    out[:260, :260] = np.median(im[300:400, 300:400].reshape(-1, 3), axis=0)
    return out


@pytest.mark.parametrize(
    ("hsv", "cls"),
    [
        ((15, 32, 75), "full_black"),  # a black bean: brown, dark, S >= 28
        ((110, 28, 80), "foreign_matter"),  # a dim grey stone with a bluish cast
        ((20, 18, 76), "foreign_matter"),  # a dim stone greyer than any black bean
        ((10, 20, 120), "foreign_matter"),  # a bright grey stone
        ((15, 130, 120), "sour"),
    ],
)
def test_dark_grey_stones_are_not_black_beans(hsv: tuple[int, int, int], cls: str) -> None:
    """Colour alone: a flat ellipse of one HSV colour, bean sized (7 px/mm)."""
    mask = np.zeros((90, 120), np.uint8)
    cv2.ellipse(mask, ((60, 45), (9.6 * 7, 6.6 * 7), 0), 255, -1)
    img = np.zeros((90, 120, 3), np.uint8)
    img[mask > 0] = hsv
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outside = cv2.dilate((mask == 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert coffee.classify(img, mask, outside, contours[0], 7.0)[0] == cls
