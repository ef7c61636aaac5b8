"""The image quality gate: a photo that fails it is ``unusable`` with its reason,
never graded. Reasons: ``too_dark``, ``overexposed``, ``blurred``, ``no_marker``
(the last is decided by the program, which looks for the marker anyway), and for
the light: ``white_balance`` (the white cards' colour is further from grey than
can be corrected) and ``uneven_light`` (the light falls across the tray by more
than can be flattened: light from one side). :func:`light` decides those two from
what the program measured; the figures go into the result either way."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.vision.config import QualityConfig

REASONS = ("too_dark", "overexposed", "blurred", "no_marker", "white_balance", "uneven_light")


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


def light(cast: float, gradient: float, shadow: float, cfg: QualityConfig) -> str | None:
    """The reason to refuse a photo for its light, or None. ``cast``: the largest
    white-balance gain's departure from 1; ``gradient``: the fall of the light
    across the tray (0-1); ``shadow``: the light in the deepest cast shadows (0-1)."""
    if cast > cfg.max_cast:
        return "white_balance"
    if gradient > cfg.max_gradient or shadow < cfg.min_shadow:
        return "uneven_light"
    return None


MESSAGES: dict[str, tuple[str, str]] = {
    "too_dark": ("too dark: add light or lengthen the exposure", "太暗：请增加光线或延长曝光"),
    "overexposed": ("overexposed: reduce the light or the exposure", "过曝：请减弱光线或缩短曝光"),
    "blurred": ("blurred: focus the camera and keep the tray still", "模糊：请对焦并保持托盘静止"),
    "no_marker": (
        "no calibration marker in view: place the marker card in the frame",
        "画面中没有标定卡：请把标定卡放入画面",
    ),
    "white_balance": (
        "white balance far off: set the camera's white balance on the white card",
        "白平衡偏差过大：请用白卡设置相机白平衡",
    ),
    "uneven_light": ("light from one side: use diffuse light", "光线来自一侧：请使用漫射光"),
}


def message(reason: str, lang: str = "en") -> str:
    en, zh = MESSAGES[reason]
    return zh if lang == "zh" else en
