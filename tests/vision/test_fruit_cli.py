"""Fruit run on a fixed seed (small frames), and the CLI end to end."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import orjson

from edge.vision.config import VisionConfig
from edge.vision.fruit import FruitRun
from simulators.camera.files import write_coffee
from simulators.camera.fruit import FruitSequence, FruitSettings


def test_each_fruit_counted_once_with_stage_and_size() -> None:
    seq = FruitSequence(3, replace(FruitSettings(), fruits=3))
    run = FruitRun(VisionConfig())
    for frame in seq.frames():
        assert run.frame(frame.image).usable
    summary = run.summary()
    assert summary.counts["fruit"] == 3
    assert summary.lot == "LOT-000003"
    truth = {}
    for f in seq.truth()["fruits"]:
        truth[f"stage_{f['stage']}"] = truth.get(f"stage_{f['stage']}", 0) + 1
    assert {k: v for k, v in summary.counts.items() if k.startswith("stage_")} == truth


def test_cli_inspect_prints_json_and_refuses_bad_files(tmp_path: Path) -> None:
    (img,) = write_coffee(tmp_path, [4], width=800, height=600, objects=40)
    bad = tmp_path / "empty.jpg"
    bad.write_bytes(b"")
    proc = subprocess.run(
        [sys.executable, "-m", "dehong.cli", "vision", "inspect", "--program", "coffee", str(img), str(bad)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = [orjson.loads(x) for x in proc.stdout.splitlines()]
    assert lines[0]["usable"] and lines[0]["lot"] == "LOT-000004"
    assert "empty file" in lines[1]["error"]
