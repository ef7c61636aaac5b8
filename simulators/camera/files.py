"""Write scenes to a folder: one PNG per image and one ground-truth JSON per scene.

Coffee: ``coffee-{seed}.png`` + ``coffee-{seed}.json``. Fruit: a folder per run,
``fruit-{seed}/frame-0000.png ...`` + ``fruit-{seed}/truth.json`` (the per-frame
lists of whole and partial fruit are in ``truth["frames_visible"]``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import orjson

from simulators.camera.coffee import HARDER, CoffeeSettings, make_coffee
from simulators.camera.conditions import resolve
from simulators.camera.fruit import HARDER_FRUIT, FruitSequence, FruitSettings


def write_coffee(
    out: Path, seeds: list[int], *, harder: bool = False, width: int = 0, height: int = 0,
    objects: int = 0, conditions: str = "default",
) -> list[Path]:  # fmt: skip
    """``conditions``: ``default`` (today's), ``field`` (every condition drawn from
    each seed) or ``limit:NAME`` (one condition at its limit; see ``conditions``)."""
    resolve(conditions, 0)  # a bad name fails before anything is written
    settings = HARDER if harder else CoffeeSettings()
    if width and height:
        settings = replace(settings, width=width, height=height)
    if objects:
        settings = replace(settings, objects=objects)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for seed in seeds:
        scene = make_coffee(seed, settings, conditions=resolve(conditions, seed))
        path = out / f"coffee-{seed}.png"
        cv2.imwrite(str(path), scene.image)
        (out / f"coffee-{seed}.json").write_bytes(
            orjson.dumps(scene.truth, option=orjson.OPT_INDENT_2)
        )
        written.append(path)
    return written


def write_fruit(
    out: Path, seeds: list[int], *, commodity: str = "mango", harder: bool = False, fruits: int = 0
) -> list[Path]:
    settings = replace(HARDER_FRUIT if harder else FruitSettings(), commodity=commodity)
    if fruits:
        settings = replace(settings, fruits=fruits)
    written = []
    for seed in seeds:
        run = FruitSequence(seed, settings)
        folder = out / f"fruit-{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        visible = []
        for frame in run.frames():
            cv2.imwrite(str(folder / f"frame-{frame.index:04d}.png"), frame.image)
            visible.append({"whole": frame.whole, "partial": frame.partial})
        truth = run.truth() | {"frames_visible": visible}
        (folder / "truth.json").write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2))
        written.append(folder)
    return written
