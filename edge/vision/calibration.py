"""Scale from the ArUco calibration marker, and the lot id from the lot QR code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from edge.vision.config import MarkerConfig

#: GS1 Digital Link: .../01/{gtin}/10/{lot}[/21/{serial}]
_DIGITAL_LINK_LOT = re.compile(r"/01/\d{8,14}/10/([^/?#]{1,20})")
_PAD = 32
_LOT_TEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Marker:
    corners: np.ndarray  # 4×2 float32, image px
    px_per_mm: float

    def box(self, grow: float) -> tuple[int, int, int, int]:
        """Bounding box (x, y, w, h) grown by ``grow`` × the side on every edge."""
        x0, y0 = self.corners.min(axis=0)
        x1, y1 = self.corners.max(axis=0)
        pad = grow * float(x1 - x0)
        return (int(x0 - pad), int(y0 - pad), int(x1 - x0 + 2 * pad), int(y1 - y0 + 2 * pad))


@lru_cache(maxsize=8)
def _detector(dictionary: str) -> cv2.aruco.ArucoDetector:
    try:
        d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary))
    except AttributeError:
        raise ValueError(
            f"unknown ArUco dictionary {dictionary!r}; use e.g. DICT_4X4_50 or DICT_6X6_250"
        ) from None
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    return cv2.aruco.ArucoDetector(d, params)


def find_marker(
    gray: np.ndarray, cfg: MarkerConfig, roi: tuple[int, int, int, int] | None = None
) -> Marker | None:
    """The configured marker, or None. ``roi`` (x, y, w, h) limits the search."""
    ox = oy = 0
    img = gray
    if roi is not None:
        x, y, w, h = roi
        ox, oy = max(x, 0), max(y, 0)
        img = gray[oy : y + h, ox : x + w]
        if img.size == 0:
            return None
    # a marker card at the very edge of the frame is missed by the detector's
    # adaptive threshold: give it a replicated border to work with
    img = cv2.copyMakeBorder(img, _PAD, _PAD, _PAD, _PAD, cv2.BORDER_REPLICATE)
    ox, oy = ox - _PAD, oy - _PAD
    corners, ids, _ = _detector(cfg.dictionary).detectMarkers(img)
    if ids is None:
        return None
    for quad, mid in zip(corners, ids.ravel(), strict=True):
        if int(mid) == cfg.id:
            pts = quad.reshape(4, 2).astype(np.float32) + np.float32([ox, oy])
            sides = np.linalg.norm(pts - np.roll(pts, 1, axis=0), axis=1)
            return Marker(pts, float(sides.mean()) / cfg.size_mm)
    return None


def parse_lot(text: str) -> str | None:
    """A lot id from a QR payload: a GS1 Digital Link's AI 10, or a plain lot id."""
    text = text.strip()
    m = _DIGITAL_LINK_LOT.search(text)
    if m:
        return m.group(1)
    return text if _LOT_TEXT.match(text) else None


def _plausible_quad(quad: np.ndarray, h: int, w: int) -> bool:
    """A QR code seen from above: four near-equal sides, near-equal diagonals,
    smaller than half the frame."""
    if quad.shape != (4, 2):
        return False
    sides = np.linalg.norm(quad - np.roll(quad, 1, axis=0), axis=1)
    diagonals = np.linalg.norm(quad[:2] - quad[2:], axis=1)
    return bool(
        sides.min() > 8
        and sides.max() < 1.5 * sides.min()
        and diagonals.max() < 1.3 * diagonals.min()
        and sides.max() < 0.5 * min(h, w)
    )


def read_lot(gray: np.ndarray) -> tuple[str | None, np.ndarray | None]:
    """(lot id, QR quad) from the lot QR code. The code is found on a reduced copy
    (a quarter, then a half, then full size; each as it is and lightly smoothed,
    since sensor noise breaks the finder patterns of a blurred code) and decoded
    from a crop at full resolution (as it is, sharpened, binarised, and binarised
    at twice the size): decoding the whole frame costs ~0.2 s on a Pi-class core.
    Full size is searched smoothed only (the raw search there costs ~0.5 s)."""
    detector = cv2.QRCodeDetector()
    h, w = gray.shape[:2]
    tried: list[np.ndarray] = []
    for scale in (0.25, 0.5, 1.0):
        small = (
            gray
            if scale == 1.0
            else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        searches = (small, cv2.GaussianBlur(small, (0, 0), 1.0))
        for image in searches[1:] if scale == 1.0 else searches:
            found, points = detector.detect(image)
            if not found or points is None:
                continue
            quad = points.reshape(-1, 2) / scale
            if not _plausible_quad(quad, h, w):
                continue  # the detector's corners are garbage at times (seen at 0.25)
            if any(np.abs(quad - q).max() < 4 for q in tried):
                continue  # this code's crop failed already
            tried.append(quad)
            x0, y0 = quad.min(axis=0)
            x1, y1 = quad.max(axis=0)
            m = 0.2 * float(max(x1 - x0, y1 - y0)) + 8
            crop = gray[
                max(int(y0 - m), 0) : min(int(y1 + m), h),
                max(int(x0 - m), 0) : min(int(x1 + m), w),
            ]
            origin = np.float32([max(int(x0 - m), 0), max(int(y0 - m), 0)])
            for variant, zoom in _decode_variants(crop):
                text, points, _ = detector.detectAndDecode(variant)
                if text:
                    return parse_lot(text), _decoded_quad(quad, points, zoom, origin, h, w)
    return None, None


def _decoded_quad(
    searched: np.ndarray,
    points: np.ndarray | None,
    zoom: float,
    origin: np.ndarray,
    h: int,
    w: int,
) -> np.ndarray | None:
    """Where the code is: the corners it was decoded at (``points``, in the decoded
    variant of the crop at ``origin``, magnified ``zoom``), frame px. The search on a
    reduced copy can give a plausible square that is not the code (seen: a square
    three times the code's side, tilted, round it): the crop round it still holds the
    code and decodes, but that square is tray and beans, not the card. The search's
    corners are kept when they agree with the decoded ones within a tenth of the
    side (the same code, found twice), and when the decoder gives no plausible
    corners (then the white card round them is checked, :mod:`whitecard`)."""
    if points is None:
        return searched
    decoded = points.reshape(-1, 2).astype(np.float32) / zoom + origin
    if not _plausible_quad(decoded, h, w):
        return searched
    side = float(np.linalg.norm(decoded - np.roll(decoded, 1, axis=0), axis=1).mean())
    if np.abs(decoded - searched).max() <= 0.1 * side:
        return searched
    return decoded


def _decode_variants(crop: np.ndarray) -> Iterator[tuple[np.ndarray, float]]:
    """The crop as it is, then forms that a blurred, noisy code decodes from, each
    with its magnification."""
    yield crop, 1.0
    yield cv2.addWeighted(crop, 2.0, cv2.GaussianBlur(crop, (0, 0), 2.0), -1.0, 0), 1.0
    binary = cv2.THRESH_BINARY + cv2.THRESH_OTSU
    yield cv2.threshold(cv2.GaussianBlur(crop, (0, 0), 1.0), 0, 255, binary)[1], 1.0
    big = cv2.resize(crop, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    yield cv2.threshold(big, 0, 255, binary)[1], 2.0
