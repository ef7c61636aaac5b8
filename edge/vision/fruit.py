"""Fruit grading on a conveyor: per frame, each whole fruit's calibrated axes,
size class, maturity stage (mean hue in the commodity's bands) and blemish % of
its visible surface; :class:`FruitRun` tracks fruit across frames so each is
counted once, and gives the per-lot grade distribution.

The belt is dark and grey, fruit bright and coloured: a fruit is where the
saturation and value are both well above the belt's. Blemishes are the fruit's
own pixels much darker than its median. The marker's scale is kept between
frames and looked for again in the same place (a stored calibration); a frame
without it is ``unusable`` (``no_marker``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from edge.vision import calibration, quality
from edge.vision.config import Commodity, VisionConfig
from edge.vision.result import ProgramResult, unusable
from edge.vision.tracking import Tracker

#: a fruit pixel: saturation and value at least this (0-255)
FRUIT_S_MIN = 70
FRUIT_V_MIN = 90
#: a blemish pixel: value below this fraction of the fruit's median value
BLEMISH_REL = 0.55
MIN_AREA_MM2 = 600.0


@dataclass(slots=True)
class Fruit:
    cx: float
    cy: float
    length_mm: float
    width_mm: float
    hue: float
    stage: str
    size_class: str
    blemish_pct: float
    whole: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "cx": round(self.cx, 1),
            "cy": round(self.cy, 1),
            "length_mm": round(self.length_mm, 2),
            "width_mm": round(self.width_mm, 2),
            "hue": round(self.hue, 1),
            "stage": self.stage,
            "size_class": self.size_class,
            "blemish_pct": round(self.blemish_pct, 2),
            "whole": self.whole,
        }


def stage_of(hue: float, c: Commodity) -> str:
    for s in c.stages:
        if s.hue_min <= hue < s.hue_max:
            return s.name
    return c.stages[0].name if hue >= c.stages[0].hue_max else c.stages[-1].name


def size_class_of(length_mm: float, width_mm: float, c: Commodity) -> str:
    value = length_mm if c.size_axis == "length" else width_mm
    name = c.size_classes[0].name
    for s in c.size_classes:
        if value >= s.min_mm:
            name = s.name
    return name


def blemish_grade_of(pct: float, c: Commodity) -> str:
    for name, limit in c.blemish_grades.items():
        if pct <= limit:
            return name
    return list(c.blemish_grades)[-1]


def detect(img: np.ndarray, ppm: float, c: Commodity, exclude_top: int = 0) -> list[Fruit]:
    """Every fruit in one frame; ``whole`` is False for fruit cut by the frame edge."""
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    s, v = hsv[:, :, 1], hsv[:, :, 2]
    mask = ((s >= FRUIT_S_MIN) & (v >= FRUIT_V_MIN)).astype(np.uint8) * 255
    mask[:exclude_top] = 0
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    h, w = mask.shape
    out: list[Fruit] = []
    for cnt in contours:
        if cv2.contourArea(cnt) < MIN_AREA_MM2 * ppm * ppm or len(cnt) < 5:
            continue
        x, y, bw, bh = cv2.boundingRect(cnt)
        whole = x > 1 and y > 1 and x + bw < w - 1 and y + bh < h - 1
        (cx, cy), axes, _ = cv2.fitEllipse(cnt)
        minor, major = sorted(axes)
        roi = np.zeros((bh, bw), np.uint8)
        cv2.drawContours(roi, [cnt - np.array([x, y])], -1, 255, -1)
        inner = roi > 0
        hv = hsv[y : y + bh, x : x + bw]
        vals = hv[:, :, 2][inner].astype(np.float32)
        med_v = float(np.median(vals))
        blem = vals < BLEMISH_REL * med_v
        hue = float(np.median(hv[:, :, 0][inner][~blem])) if (~blem).any() else 0.0
        length, width = major / ppm, minor / ppm
        out.append(
            Fruit(
                cx=cx,
                cy=cy,
                length_mm=length,
                width_mm=width,
                hue=hue,
                stage=stage_of(hue, c),
                size_class=size_class_of(length, width, c),
                blemish_pct=100.0 * float(blem.mean()),
                whole=whole,
            )
        )
    return out


@dataclass(slots=True)
class FruitRun:
    """One conveyor run of one lot: frames in, each fruit counted once."""

    cfg: VisionConfig
    lot: str | None = None
    marker: calibration.Marker | None = None
    tracker: Tracker = field(init=False)
    frames: int = 0
    unusable_frames: int = 0

    def __post_init__(self) -> None:
        self.tracker = Tracker(max_missed=self.cfg.fruit.max_missed)

    def frame(self, img: np.ndarray) -> ProgramResult:
        t0 = time.perf_counter()
        self.frames += 1
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        q = quality.assess(gray, self.cfg.quality)
        if not q.usable:
            self.unusable_frames += 1
            return unusable("fruit", q.reason or "", lot=self.lot, measurements=q.as_measurements())
        mcfg = self.cfg.fruit.marker
        found = None
        if self.marker is not None:
            found = calibration.find_marker(gray, mcfg, self.marker.box(0.5))
        if found is None:
            found = calibration.find_marker(gray, mcfg)
        if found is None:
            self.unusable_frames += 1
            return unusable("fruit", "no_marker", lot=self.lot, measurements=q.as_measurements())
        self.marker = found
        if self.lot is None:
            self.lot, _ = calibration.read_lot(gray)
        commodity = self.cfg.fruit.current()
        top = int(
            found.corners[:, 1].max()
            + 0.5 * (found.corners[:, 1].max() - found.corners[:, 1].min())
        )
        fruits = detect(img, found.px_per_mm, commodity, exclude_top=top)
        new = self.tracker.update([(f.cx, f.cy, f) for f in fruits if f.whole])
        counts = {
            "fruit_in_frame": len(fruits),
            "new_fruit": new,
            "fruit_total": self.tracker.count,
        }
        return ProgramResult(
            program="fruit",
            usable=True,
            lot=self.lot,
            counts=counts,
            measurements={"px_per_mm": round(found.px_per_mm, 4), **q.as_measurements()},
            objects=[f.as_json() for f in fruits],
            timings={"total": time.perf_counter() - t0},
            annotated=_draw(img, fruits),
        )

    def summary(self) -> ProgramResult:
        """Per-lot distribution: each tracked fruit by its median measurements."""
        c = self.cfg.fruit.current()
        counts: dict[str, int] = {"fruit": 0}
        lengths: list[float] = []
        for track in self.tracker.finished():
            obs: list[Fruit] = track
            length = float(np.median([o.length_mm for o in obs]))
            width = float(np.median([o.width_mm for o in obs]))
            hue = float(np.median([o.hue for o in obs]))
            blem = float(np.median([o.blemish_pct for o in obs]))
            counts["fruit"] += 1
            for key in (
                f"size_{size_class_of(length, width, c)}",
                f"stage_{stage_of(hue, c)}",
                f"blemish_{blemish_grade_of(blem, c)}",
            ):
                counts[key] = counts.get(key, 0) + 1
            lengths.append(length)
        return ProgramResult(
            program="fruit",
            usable=True,
            lot=self.lot,
            counts=counts,
            measurements={
                "frames": float(self.frames),
                "unusable_frames": float(self.unusable_frames),
                "length_mm_median": float(np.median(lengths)) if lengths else 0.0,
            },
        )


def _draw(img: np.ndarray, fruits: list[Fruit]) -> np.ndarray:
    out = img.copy()
    for f in fruits:
        colour = (0, 255, 0) if f.whole else (128, 128, 128)
        cv2.circle(out, (int(f.cx), int(f.cy)), 6, colour, -1)
        cv2.putText(
            out, f"{f.size_class} {f.stage} {f.blemish_pct:.0f}%", (int(f.cx) - 60, int(f.cy) - 12),
            cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2,
        )  # fmt: skip
    return out
