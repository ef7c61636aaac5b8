"""The camera simulator: reproducible, and as hard as its README says."""

from __future__ import annotations

import numpy as np

from simulators.camera.coffee import DEFECT_CLASSES, SMALL, make_coffee, screen_size
from simulators.camera.fruit import FruitSequence, FruitSettings


def test_same_seed_same_scene() -> None:
    a, b = make_coffee(3, SMALL), make_coffee(3, SMALL)
    assert np.array_equal(a.image, b.image)
    assert a.truth == b.truth
    assert not np.array_equal(a.image, make_coffee(4, SMALL).image)


def test_every_defect_class_and_touching_beans() -> None:
    truth = make_coffee(5, SMALL).truth
    assert all(truth["counts"][c] >= 1 for c in DEFECT_CLASSES)
    assert truth["touching_fraction"] >= 0.3
    assert truth["lot"] == "LOT-000005"


def test_screen_size_is_sixty_fourths_of_an_inch() -> None:
    assert screen_size(6.35) == 16
    assert screen_size(6.34) == 15


def test_fruit_run_counts_and_frames() -> None:
    run = FruitSequence(2, FruitSettings(fruits=2, width=640, height=400, px_per_mm=1.0))
    frames = list(run.frames())
    seen = {i for f in frames for i in f.whole}
    assert seen == {0, 1}
    assert frames[0].image.shape == (400, 640, 3)
