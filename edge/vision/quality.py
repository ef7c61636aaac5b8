"""The image quality gate: a photo that fails it is ``unusable`` with its reason,
never graded. Reasons: ``too_dark``, ``overexposed``, ``blurred``, ``no_marker``
(the last is decided by the program, which looks for the marker anyway)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.vision.config import QualityConfig

REASONS = ("too_dark", "overexposed", "blurred", "no_marker")


@dataclass(frozen=True, slots=True)
class Quality:
    mean: float
    saturated: float
    sharpness: float
    reason: str | None = None

    @property
    def usable(self) -> bool:
        return self.reason is None

    def as_measurements(self) -> dict[str, float]:
        return {
            "q_mean": round(self.mean, 2),
            "q_saturated": round(self.saturated, 4),
            "q_sharpness": round(self.sharpness, 2),
        }


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian of the half-size image, smoothed first so that
    sensor noise does not pass for detail."""
    half = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    half = cv2.GaussianBlur(half, (3, 3), 0)
    return float(cv2.Laplacian(half, cv2.CV_32F).var())


def assess(gray: np.ndarray, cfg: QualityConfig) -> Quality:
    mean = float(gray.mean())
    saturated = float(np.count_nonzero(gray >= 250)) / gray.size
    sharp = sharpness(gray)
    reason = None
    if mean < cfg.min_mean:
        reason = "too_dark"
    elif saturated > cfg.max_saturated:
        reason = "overexposed"
    elif sharp < cfg.min_sharpness:
        reason = "blurred"
    return Quality(mean, saturated, sharp, reason)


def message(reason: str) -> str:
    return {
        "too_dark": "too dark: add light or lengthen the exposure",
        "overexposed": "overexposed: reduce the light or the exposure",
        "blurred": "blurred: focus the camera and keep the tray still",
        "no_marker": "no calibration marker in view: place the marker card in the frame",
    }[reason]
