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

A card is used only when its band is paper (:func:`paper`): one colour all round,
whatever the light's colour or brightness. A code found in the wrong place (a
search's corners that are not the code's) puts the band on tray and beans, whose
colour would be "divided out" of the whole tray; such a card is left out
(``not_paper`` is reported).
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
#: paper: at least PAPER_FRAC of the band's pixels within PAPER_TOL (L1 distance of
#: chromaticity, b + g + r = 1) of the band's median colour, after a light smoothing
#: (σ PAPER_SMOOTH px) against sensor noise. A light's colour or brightness, a
#: shadow across the card, do not change that; tray and beans under the band do. On
#: the simulator's harder trays (noise σ up to 8) paper measured 0.97-1.00 within
#: 0.04; a band half on the tray, 0.62
PAPER_TOL = 0.04
PAPER_FRAC = 0.85
PAPER_SMOOTH = 1.0


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
    #: a card whose band is not paper (tray and beans: the code's corners were
    #: wrong), left out
    not_paper: int = 0

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
            "wb_not_paper": float(self.not_paper),
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


def paper(img: np.ndarray, corners: np.ndarray) -> bool:
    """Whether the band round a code (4 × 2 corners) is white paper: one colour all
    round (see PAPER_TOL). Its pixels clipped in any channel are left out; a band
    with fewer than MIN_PIXELS left says nothing against it."""
    pts = band_points(corners)
    h, w = img.shape[:2]
    x0, y0 = np.clip(np.floor(pts.min(axis=0)).astype(int) - 4, 0, [w, h])
    x1, y1 = np.clip(np.ceil(pts.max(axis=0)).astype(int) + 5, 0, [w, h])
    if x1 <= x0 or y1 <= y0:
        return False
    roi = cv2.GaussianBlur(img[y0:y1, x0:x1], (0, 0), PAPER_SMOOTH)
    px = sample(roi, pts - np.float32([x0, y0]))
    px = px[(px < CLIPPED).all(axis=1)]
    if len(px) < MIN_PIXELS:
        return True
    ch = px / np.maximum(px.sum(axis=1, keepdims=True), 1.0)
    near = np.abs(ch - np.median(ch, axis=0)).sum(axis=1) <= PAPER_TOL
    return float(near.mean()) >= PAPER_FRAC


def estimate(
    img: np.ndarray, codes: list[np.ndarray], on_paper: list[bool] | None = None
) -> Illuminant:
    """The illuminant from the white cards round ``codes`` (each 4 × 2 corners).
    A card whose band is not paper is left out (``on_paper``: :func:`paper` per
    code, when the caller has it). Cards with more than MAX_CLIPPED of their band
    clipped are used only when no card is clean (the least clipped one then)."""
    if on_paper is None:
        on_paper = [paper(img, c) for c in codes]
    read: list[tuple[np.ndarray, float]] = []
    for corners, ok in zip(codes, on_paper, strict=True):
        white = _card_white(sample(img, band_points(corners))) if ok else None
        if white is not None:
            read.append(white)
    not_paper = on_paper.count(False)
    clean = [w for w, frac in read if frac <= MAX_CLIPPED]
    clipped = len(codes) - not_paper - len(clean)
    if not clean and read:
        clean = [min(read, key=lambda r: r[1])[0]]
    if not clean:
        return Illuminant(np.ones(3, np.float32), 0.0, 0, clipped, not_paper)
    # each card's chromaticity counts once, whatever its brightness (the lighting
    # gradient makes one card darker than the other, not another colour)
    chroma = np.mean([w / max(float(w.sum()), 1.0) for w in clean], axis=0)
    gains = (1.0 / 3.0) / np.maximum(chroma, 1e-3)
    gains = gains / gains.mean()
    level = float(np.mean([w.mean() for w in clean]))
    return Illuminant(gains.astype(np.float32), level, len(clean), clipped, not_paper)
