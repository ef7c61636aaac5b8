"""The illuminant's colour from the white cards in the frame (colour constancy).

Every coffee frame carries two white cards: the ArUco calibration card and the lot
QR card. Both are white paper, lit by the same light as the tray. Their colour in
the image is the light's colour times the camera's white balance; dividing each
channel by it (von Kries) makes white white again before any colour rule runs.

Where the white is read: a band of the card just outside the code's own square
(the ArUco marker's black square, the QR code's finder-pattern corners), at
``BAND`` of the code's side out from it. The ArUco dictionary demands a white
border of at least one cell (1/6 of a 4×4 marker's side, more for bigger cells),
the QR specification a quiet zone of four modules (at least 4/29 of a version-3
code's side), so the band lies on white paper whatever card the site printed.
Pixels of the band that are clipped in any channel (>= CLIPPED) say nothing about
that channel's ratio and are left out; if every pixel of a card is clipped the
card is not used (``clipped`` is reported).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: the band read on each card, in units of the code's side, outside its square
BAND = (0.05, 0.13)
#: a channel at or above this is clipped (sensor full)
CLIPPED = 250
#: fewer usable pixels than this on a card: the card is not used
MIN_PIXELS = 40
#: a card with more than this fraction of its band clipped is not used: what is left
#: of it is its darker part only, which biases the clipped channel low
MAX_CLIPPED = 0.2


@dataclass(frozen=True, slots=True)
class Illuminant:
    #: per-channel (B, G, R) multipliers that make the cards grey; mean 1
    gains: np.ndarray
    #: the cards' mean level (0-255, before the gains), brightness of white
    white: float
    #: how many cards were read (0: no estimate, gains are 1)
    cards: int
    #: a card whose every pixel was clipped in some channel, left out
    clipped: int

    @property
    def cast(self) -> float:
        """The largest departure of a gain from 1 (0.05: one channel off by 5 %)."""
        return float(np.abs(self.gains - 1.0).max())

    def as_measurements(self) -> dict[str, float]:
        b, g, r = (round(float(x), 4) for x in self.gains)
        return {
            "wb_gain_b": b,
            "wb_gain_g": g,
            "wb_gain_r": r,
            "wb_cast": round(self.cast, 4),
            "wb_cards": float(self.cards),
            "white_level": round(self.white, 1),
        }


def band_points(corners: np.ndarray, band: tuple[float, float] = BAND, n: int = 48) -> np.ndarray:
    """Image points (m × 2, float32) on the band round a code's square (``corners``:
    4 × 2, in order round the square)."""
    t = np.linspace(-band[1], 1 + band[1], n, dtype=np.float32)
    u, v = np.meshgrid(t, t)
    out = np.maximum(np.maximum(-u, u - 1), np.maximum(-v, v - 1))  # distance out, in sides
    keep = (out >= band[0]) & (out <= band[1])
    pts = np.stack([u[keep], v[keep]], axis=1).reshape(-1, 1, 2)
    unit = np.float32([[0, 0], [1, 0], [1, 1], [0, 1]])
    m = cv2.getPerspectiveTransform(unit, np.asarray(corners, np.float32).reshape(4, 2))
    return cv2.perspectiveTransform(pts, m).reshape(-1, 2)


def sample(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Pixels (m × 3, float32) of ``img`` at the points inside the frame."""
    h, w = img.shape[:2]
    xy = np.round(pts).astype(np.int64)
    ok = (xy[:, 0] >= 0) & (xy[:, 1] >= 0) & (xy[:, 0] < w) & (xy[:, 1] < h)
    return img[xy[ok, 1], xy[ok, 0]].astype(np.float32)


def _card_white(px: np.ndarray) -> tuple[np.ndarray, float] | None:
    """A card's white (B, G, R) and the fraction of its band that is clipped: the
    median of the brighter half of the unclipped pixels (the band's inner edge can
    catch the code's blurred edge)."""
    ok = (px < CLIPPED).all(axis=1)
    if ok.sum() < MIN_PIXELS:
        return None
    px = px[ok]
    bright = px.sum(axis=1)
    return np.median(px[bright >= np.median(bright)], axis=0), 1.0 - float(ok.mean())


def estimate(img: np.ndarray, codes: list[np.ndarray]) -> Illuminant:
    """The illuminant from the white cards round ``codes`` (each 4 × 2 corners).
    Cards with more than MAX_CLIPPED of their band clipped are used only when no
    card is clean (the least clipped one then)."""
    read: list[tuple[np.ndarray, float]] = []
    for corners in codes:
        white = _card_white(sample(img, band_points(corners)))
        if white is not None:
            read.append(white)
    clean = [w for w, frac in read if frac <= MAX_CLIPPED]
    clipped = len(codes) - len(clean)
    if not clean and read:
        clean = [min(read, key=lambda r: r[1])[0]]
    if not clean:
        return Illuminant(np.ones(3, np.float32), 0.0, 0, clipped)
    # each card's chromaticity counts once, whatever its brightness (the lighting
    # gradient makes one card darker than the other, not another colour)
    chroma = np.mean([w / max(float(w.sum()), 1.0) for w in clean], axis=0)
    gains = (1.0 / 3.0) / np.maximum(chroma, 1e-3)
    gains = gains / gains.mean()
    level = float(np.mean([w.mean() for w in clean]))
    return Illuminant(gains.astype(np.float32), level, len(clean), clipped)
