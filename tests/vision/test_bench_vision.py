"""The vision benchmark's accuracy arithmetic on one small fixed-seed tray."""

from __future__ import annotations

from pathlib import Path

from bench.vision import _match, coffee_accuracy
from simulators.camera.files import write_coffee


def test_matching_is_nearest_first_and_one_to_one() -> None:
    found = [{"cx": 0.0, "cy": 0.0}, {"cx": 5.0, "cy": 0.0}, {"cx": 100.0, "cy": 0.0}]
    truth = [{"cx": 4.0, "cy": 0.0}, {"cx": 1.0, "cy": 0.0}]
    assert sorted(_match(found, truth)) == [(0, 1), (1, 0)]


def test_coffee_accuracy_on_a_small_tray(tmp_path: Path) -> None:
    write_coffee(tmp_path, [4], width=800, height=600, objects=40)
    acc = coffee_accuracy(tmp_path)
    assert acc["trays"] == 1 and acc["bean_count_exact_rate"] == 1.0
    assert acc["grade_match_rate"] == 1.0 and acc["width_error_median"] < 0.03
    assert acc["lot_read_rate"] == 1.0  # LOT-000004 from its QR code
    assert all(d["recall"] == 1.0 for d in acc["defects"].values())
