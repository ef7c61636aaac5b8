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


def test_a_refused_tray_fails_every_accuracy_figure(tmp_path: Path) -> None:
    import cv2

    (png,) = write_coffee(tmp_path, [4], width=800, height=600, objects=40)
    cv2.imwrite(str(png), (cv2.imread(str(png)) * 0.1).astype("uint8"))  # too dark
    acc = coffee_accuracy(tmp_path)
    assert acc["refusal_rate"] == 1.0 and acc["refusal_reasons"] == {"too_dark": 1}
    assert acc["bean_count_exact_rate"] == 0.0 and acc["grade_match_rate"] == 0.0
    assert acc["width_error_median"] == 1.0
    assert all(d["recall"] == 0.0 and d["truth"] >= 1 for d in acc["defects"].values())


def test_field_goals_include_refusals_and_time(tmp_path: Path) -> None:
    from bench.vision import _baseline, _goals

    perfect = {"precision": 1.0, "recall": 1.0, "truth": 3}
    a = {
        "bean_count_exact_rate": 0.96, "grade_match_rate": 0.97, "width_error_median": 0.01,
        "refusal_rate": 0.03, "defects": {"sour": perfect},
    }  # fmt: skip
    goals = _goals(
        {"accuracy": {"coffee_field": a}, "speed": {"coffee_tray_field": {"median_s": 0.8}}}
    )
    assert goals == {
        "field_count": True, "field_defects": True, "field_size": True, "field_grade": True,
        "field_refusals": False, "field_tray_s": True,
    }  # fmt: skip
    (png,) = write_coffee(tmp_path, [4], width=800, height=600, objects=40)
    assert 0 < _baseline(png) < 5
