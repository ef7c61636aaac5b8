"""Annotated pictures: what the program found, drawn on the image; JPEG thumbnails."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from edge.vision.calibration import Marker
    from edge.vision.coffee import Bean

#: BGR per class
COLOURS: dict[str, tuple[int, int, int]] = {
    "normal": (0, 200, 0),
    "full_black": (255, 0, 255),
    "partial_black": (255, 128, 255),
    "sour": (0, 0, 255),
    "broken": (0, 200, 255),
    "insect_damage": (255, 255, 0),
    "foreign_matter": (255, 255, 255),
}


def draw_coffee(img: np.ndarray, beans: list[Bean], marker: Marker | None) -> np.ndarray:
    out = img.copy()
    by_class: dict[str, list[np.ndarray]] = {}
    for b in beans:
        by_class.setdefault(b.cls, []).append(b.contour)
    thick = max(img.shape[1] // 800, 1)
    for cls, contours in by_class.items():
        cv2.drawContours(
            out, contours, -1, COLOURS.get(cls, (0, 255, 0)), thick + (cls != "normal")
        )
    if marker is not None:
        cv2.polylines(out, [marker.corners.astype(np.int32)], True, (0, 255, 255), thick * 2)
    return out


def thumbnail_jpeg(img: np.ndarray, max_side: int = 640, quality: int = 75) -> bytes:
    """A JPEG no larger than ``max_side`` a side (stays well under the wire's 200 kB)."""
    h, w = img.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small = cv2.resize(img, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
