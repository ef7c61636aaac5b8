"""Synthetic conveyor frames of fruit (mango, lemon) with ground truth.

A dark belt moving left to right; single fruits ride it at a constant speed and
cross the frame over several frames. The calibration marker and the lot card's QR
code sit on the rail along the top edge. Each fruit's true axes (mm), maturity
stage (the hue band it was painted from) and blemish % are in the truth, and each
frame lists which fruits it shows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from simulators.camera import render

#: Hue bands (OpenCV H, 0-180) per commodity and maturity stage, greenest first.
#: edge/vision's default config uses the same bands.
STAGES: dict[str, list[tuple[str, float, float]]] = {
    "mango": [("green", 40, 52), ("breaker", 30, 40), ("ripe", 20, 30), ("full_ripe", 8, 20)],
    "lemon": [("green", 38, 50), ("turning", 30, 38), ("yellow", 20, 30)],
}
#: Axes (mm): length range, width range.
SIZES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "mango": ((90, 135), (62, 92)),
    "lemon": ((55, 78), (44, 60)),
}


@dataclass(frozen=True, slots=True)
class FruitSettings:
    commodity: str = "mango"
    width: int = 1280
    height: int = 720
    px_per_mm: float = 2.0
    marker_mm: float = 40.0
    fruits: int = 12
    speed_px: tuple[float, float] = (35.0, 50.0)
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    gradient: tuple[float, float] = (0.1, 0.4)
    noise_sigma: tuple[float, float] = (2.0, 5.0)
    #: blemish as a fraction of the fruit's area, drawn per fruit
    blemish: tuple[float, float] = (0.0, 0.12)
    #: a stage's hue is drawn this far into its neighbours' bands (H units)
    hue_spill: float = 0.0


HARDER_FRUIT = FruitSettings(
    blur_sigma=(1.2, 2.0), gradient=(0.3, 0.5), noise_sigma=(4.0, 8.0), hue_spill=1.0
)


@dataclass(slots=True)
class Fruit:
    id: int
    stage: str
    length_mm: float
    width_mm: float
    blemish_pct: float
    hue: float
    enter_frame: int
    y: float
    angle: float


@dataclass(slots=True)
class FruitFrame:
    index: int
    image: np.ndarray
    #: ids of the fruits wholly inside the frame, and those cut by its edge
    whole: list[int]
    partial: list[int]


class FruitSequence:
    """A reproducible run of conveyor frames; ``frames()`` renders them lazily."""

    def __init__(self, seed: int, settings: FruitSettings = FruitSettings(), lot: str = "") -> None:
        s = settings
        if s.commodity not in STAGES:
            raise ValueError(f"unknown commodity {s.commodity!r}; use one of {sorted(STAGES)}")
        self.seed = seed
        self.settings = s
        self.lot = lot or f"LOT-{seed:06d}"
        rng = np.random.default_rng(seed)
        self.speed = float(rng.uniform(*s.speed_px))
        self._camera_seed = int(rng.integers(2**31))
        h, w, ppm = s.height, s.width, s.px_per_mm
        belt = rng.uniform(40, 70)
        base = np.empty((h, w, 3), np.float32)
        base[:] = render.hsv_to_bgr(rng.uniform(0, 180), rng.uniform(0, 25), belt)
        base += render.low_frequency_texture(h, w, rng, 8.0)[:, :, None]
        for x in range(int(rng.uniform(0, 60)), w, 60):  # belt slats
            base[:, x : x + 2] *= 0.85
        base[:150] = render.hsv_to_bgr(0, 0, 110)  # the rail
        side = round(s.marker_mm * ppm)
        render.paste_marker(base, 30, 25, side)
        render.paste_qr(base, w - 130, 15, 110, self.lot)
        self.background = base
        (lmin, lmax), (wmin, wmax) = SIZES[s.commodity]
        self.fruits: list[Fruit] = []
        frame = 0
        bands = STAGES[s.commodity]
        for i in range(s.fruits):
            length = float(rng.uniform(lmin, lmax))
            width = float(min(rng.uniform(wmin, wmax), length * 0.95))
            name, lo, hi = bands[int(rng.integers(len(bands)))]
            hue = float(rng.uniform(lo - s.hue_spill, hi + s.hue_spill))
            self.fruits.append(
                Fruit(
                    id=i,
                    stage=name,
                    length_mm=round(length, 2),
                    width_mm=round(width, 2),
                    blemish_pct=0.0,
                    hue=hue,
                    enter_frame=frame,
                    y=float(rng.uniform(190 + width * ppm / 2, h - 10 - length * ppm / 2)),
                    angle=float(rng.uniform(-0.5, 0.5)),
                )
            )
            gap_px = length * ppm + rng.uniform(40, 200)
            frame += math.ceil(gap_px / self.speed)
        self.n_frames = frame + math.ceil((w + lmax * ppm) / self.speed) + 1
        self._sprites = [self._sprite(f, rng) for f in self.fruits]

    def _sprite(self, f: Fruit, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The fruit's BGR patch and its alpha mask, blemishes painted on."""
        ppm = self.settings.px_per_mm
        a, b = f.length_mm * ppm / 2, f.width_mm * ppm / 2
        size = int(2 * a + 8)
        c = size / 2
        alpha = np.zeros((size, size), np.uint8)
        axes = (int(a * 16), int(b * 16))
        cv2.ellipse(
            alpha, (int(c * 16), int(c * 16)), axes, math.degrees(f.angle), 0, 360, 255, -1,
            cv2.LINE_AA, 4,
        )  # fmt: skip
        patch = np.empty((size, size, 3), np.float32)
        patch[:] = render.hsv_to_bgr(f.hue, rng.uniform(150, 220), rng.uniform(170, 230))
        inside = (alpha > 127).astype(np.uint8)
        dist = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
        patch *= (0.75 + 0.25 * np.sqrt(dist / max(float(dist.max()), 1.0)))[:, :, None]
        target = float(rng.uniform(*self.settings.blemish))
        blem = np.zeros((size, size), np.uint8)
        area = int(inside.sum())
        ys, xs = np.nonzero(cv2.erode(inside, np.ones((15, 15), np.uint8)))
        spots = int(rng.integers(1, 5)) if target > 0.005 and len(xs) else 0
        for _ in range(spots):
            k = int(rng.integers(len(xs)))
            r = math.sqrt(target * area / spots / math.pi) * rng.uniform(0.8, 1.2)
            cv2.circle(blem, (int(xs[k]), int(ys[k])), max(int(r), 2), 1, -1)
        blem &= inside
        dark = render.hsv_to_bgr(rng.uniform(5, 18), rng.uniform(80, 160), rng.uniform(35, 70))
        patch[blem > 0] = dark
        f.blemish_pct = round(100.0 * float(blem.sum()) / max(area, 1), 2)
        return patch, alpha.astype(np.float32) / 255.0

    def truth(self) -> dict[str, Any]:
        return {
            "program": "fruit",
            "seed": self.seed,
            "lot": self.lot,
            "commodity": self.settings.commodity,
            "width": self.settings.width,
            "height": self.settings.height,
            "px_per_mm": self.settings.px_per_mm,
            "marker": {
                "dict": render.MARKER_DICT,
                "id": render.MARKER_ID,
                "mm": self.settings.marker_mm,
            },
            "speed_px_per_frame": round(self.speed, 3),
            "frames": self.n_frames,
            "fruits": [
                {
                    k: round(v, 2) if k == "hue" else v
                    for k, v in asdict(f).items()
                    if k not in ("y", "angle", "enter_frame")
                }
                for f in self.fruits
            ],
        }

    def frames(self) -> Iterator[FruitFrame]:
        s = self.settings
        rng = np.random.default_rng(self._camera_seed)
        gradient = float(rng.uniform(*s.gradient))
        for i in range(self.n_frames):
            img = self.background.copy()
            whole: list[int] = []
            partial: list[int] = []
            for f, (patch, alpha) in zip(self.fruits, self._sprites, strict=True):
                size = patch.shape[0]
                cx = (i - f.enter_frame) * self.speed - size / 2
                x0, y0 = round(cx - size / 2), round(f.y - size / 2)
                if x0 + size <= 0 or x0 >= s.width:
                    continue
                ax0, ax1 = max(x0, 0), min(x0 + size, s.width)
                px0, px1 = ax0 - x0, ax1 - x0
                al = alpha[:, px0:px1, None]
                img[y0 : y0 + size, ax0:ax1] = img[y0 : y0 + size, ax0:ax1] * (1 - al) + (
                    patch[:, px0:px1] * al
                )
                cols = np.nonzero(alpha.max(axis=0) > 0.5)[0]
                (whole if x0 + cols[0] > 1 and x0 + cols[-1] < s.width - 2 else partial).append(
                    f.id
                )
            frame_rng = np.random.default_rng((self._camera_seed, i))
            out = render.camera(
                img,
                frame_rng,
                gradient=0.0,
                blur_sigma=float(frame_rng.uniform(*s.blur_sigma)),
                noise_sigma=float(frame_rng.uniform(*s.noise_sigma)),
            )
            out = np.clip(out * self._light(gradient)[:, :, None], 0, 255).astype(np.uint8)
            yield FruitFrame(i, out, whole, partial)

    def _light(self, strength: float) -> np.ndarray:
        """The same lighting for every frame of a run (the lamp does not move)."""
        if not hasattr(self, "_light_field"):
            rng = np.random.default_rng(self._camera_seed + 1)
            s = self.settings
            self._light_field = render.lighting_gradient(s.height, s.width, strength, rng)
        return self._light_field
