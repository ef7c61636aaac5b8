"""Shared rendering of the camera scenes: calibration marker, lot QR code, the
imperfections a real camera adds (lighting gradient, blur, sensor noise).

Everything random comes from the ``numpy.random.Generator`` the caller passes, so a
seed gives the same image byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: The calibration marker every scene carries; edge/vision's defaults match.
MARKER_DICT = "DICT_4X4_50"
MARKER_ID = 0


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a printed square (marker or QR code) went, in pixels: x, y, side."""

    x: int
    y: int
    side: int

    def box(self, margin: int = 0) -> tuple[int, int, int, int]:
        return (self.x - margin, self.y - margin, self.side + 2 * margin, self.side + 2 * margin)


def _paper(square: np.ndarray, white: float) -> np.ndarray:
    """A printed black-and-white square on paper of ``white`` (255: ideal white)."""
    if white == 255.0:
        return square[:, :, None]
    return square[:, :, None].astype(np.float32) * (white / 255.0)


def paste_marker(img: np.ndarray, x: int, y: int, side_px: int, white: float = 255.0) -> Placed:
    """An ArUco marker on a white card (quiet zone a quarter of the side)."""
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, MARKER_DICT))
    marker = cv2.aruco.generateImageMarker(dictionary, MARKER_ID, side_px)
    q = side_px // 4
    img[y - q : y + side_px + q, x - q : x + side_px + q] = white
    img[y : y + side_px, x : x + side_px] = _paper(marker, white)
    return Placed(x, y, side_px)


def paste_qr(
    img: np.ndarray, x: int, y: int, side_px: int, text: str, white: float = 255.0
) -> Placed:
    """A QR code of ``text`` on a white card (quiet zone included by the encoder)."""
    qr = cv2.QRCodeEncoder.create().encode(text)
    qr = cv2.resize(qr, (side_px, side_px), interpolation=cv2.INTER_NEAREST)
    q = side_px // 10
    img[y - q : y + side_px + q, x - q : x + side_px + q] = white
    img[y : y + side_px, x : x + side_px] = _paper(qr, white)
    return Placed(x, y, side_px)


def lighting_gradient(h: int, w: int, strength: float, rng: np.random.Generator) -> np.ndarray:
    """A multiplicative field falling linearly by ``strength`` (0.4 = 40 %) across the
    frame in a random direction: 1.0 at the bright side, 1 - strength at the dark side."""
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    proj = xx * np.cos(angle) + yy * np.sin(angle)
    proj = (proj - proj.min()) / max(float(np.ptp(proj)), 1.0)
    return (1.0 - strength * proj).astype(np.float32)


def camera(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    gradient: float,
    blur_sigma: float,
    noise_sigma: float,
    wb_gain: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> np.ndarray:
    """Apply lighting gradient, optical blur, sensor noise and the white balance's
    gains on B, G, R (after everything else, as a camera's processing does);
    returns uint8 BGR."""
    h, w = img.shape[:2]
    out = img.astype(np.float32)
    if gradient > 0:
        out *= lighting_gradient(h, w, gradient, rng)[:, :, None]
    if blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), blur_sigma)
    if noise_sigma > 0:
        out += rng.normal(0.0, noise_sigma, out.shape).astype(np.float32)
    if tuple(wb_gain) != (1.0, 1.0, 1.0):
        out *= np.asarray(wb_gain, np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def low_frequency_texture(
    h: int, w: int, rng: np.random.Generator, amplitude: float, cell: int = 64
) -> np.ndarray:
    """Smooth random variation (mottled tray, belt wear) in [-amplitude, amplitude]."""
    small = rng.uniform(-1, 1, (h // cell + 2, w // cell + 2)).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(big, -1, 1) * amplitude


def hsv_to_bgr(h: float, s: float, v: float) -> tuple[float, float, float]:
    """One colour, OpenCV conventions (H 0-180, S and V 0-255) -> BGR floats."""
    px = np.uint8([[[round(h) % 180, int(np.clip(s, 0, 255)), int(np.clip(v, 0, 255))]]])
    b, g, r = cv2.cvtColor(px, cv2.COLOR_HSV2BGR)[0, 0]
    return float(b), float(g), float(r)
