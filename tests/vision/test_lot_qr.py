"""The lot QR code is read on blurred, noisy trays too (the harder setting: blur
σ up to 2 px, noise σ up to 8), and a frame without a code gives no lot."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.vision.calibration import read_lot
from simulators.camera.coffee import HARDER, make_coffee


@pytest.mark.parametrize("seed", [2, 3, 11, 13])  # tuning seeds the first reader missed
def test_lot_read_on_harder_trays(seed: int) -> None:
    scene = make_coffee(seed, HARDER)
    lot, quad = read_lot(cv2.cvtColor(scene.image, cv2.COLOR_BGR2GRAY))
    assert lot == scene.truth["lot"]
    assert quad is not None and quad.shape == (4, 2)


def test_no_code_no_lot() -> None:
    rng = np.random.default_rng(0)
    gray = rng.integers(90, 160, size=(600, 800), dtype=np.uint8)
    assert read_lot(gray) == (None, None)
