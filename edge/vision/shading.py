"""The lot's own beans as the reference for light and colour (issue 17).

**Shading.** A lamp to one side lights the flank of every bean that faces it and
leaves the far flank in the diffuse light only: a sound bean's shaded flank can be
half as bright as its lit one, darker than any fixed "dark pixel" limit. How bright
a point of a bean is depends on where its surface faces, which for a domed bean
follows from the outline: the direction to the nearest edge (the way the surface
slopes down) and how far in the point lies (how steeply). Every bean on the tray
is lit by the same lamp, so :func:`table` learns, from all the tray's beans, the
typical brightness per (facing direction, depth) bin relative to each bean's own
median: a shading profile of this tray's light, whatever its direction, elevation
and diffuse fraction. A point is then judged dark against what a sound bean shows
at that place (``V / profile``), not against a fixed level: a shaded flank is at
its profile; the black end of a partial black bean is far below it.

**Colour.** The same beans give the lot's typical bean colour (median V, S and
hue of the beans' medians). Brightness rules take V relative to it (a lamp that
lights the tray's beans 20 % brighter or darker than the tray does not turn them
black), and the grey-stone rules allow the lot's own hue and saturation (a pale,
bluish-green lot is beans, not stones).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import cv2
import numpy as np

#: facing directions (sectors of the full turn) and depth bands of the profile
SECTORS = 12
DEPTHS = 4
#: objects used for the lot's figures: at least this many, else the defaults hold
MIN_BEANS = 8


def bins(mask: np.ndarray) -> np.ndarray:
    """int32 per pixel of ``mask`` (uint8, one object): its profile bin (facing
    sector × depth band), -1 off the object."""
    m = (mask > 0).astype(np.uint8)
    dist = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    # the slope's direction: away from the nearest edge (a 5-tap Sobel smooths
    # the distance transform's ridge, which has no direction of its own)
    gx = cv2.Sobel(dist, cv2.CV_32F, 1, 0, ksize=5)
    gy = cv2.Sobel(dist, cv2.CV_32F, 0, 1, ksize=5)
    # the surface faces outward, against the gradient: the angle of (-gx, -gy)
    ang = cv2.phase(-gx, -gy)  # 0-2π
    sector = (ang * (SECTORS / (2 * np.pi))).astype(np.int32) % SECTORS
    depth = np.minimum((dist / max(float(dist.max()), 1.0) * DEPTHS).astype(np.int32), DEPTHS - 1)
    out = sector * DEPTHS + depth
    out[m == 0] = -1
    return out


@dataclass(frozen=True, slots=True)
class LotColour:
    #: brightness per profile bin relative to a bean's median (None: flat light)
    profile: np.ndarray | None = None
    #: multiply a bean's V by this to compare it with the fixed V rules
    v_scale: float = 1.0
    #: the lot's typical bean hue (OpenCV H, red wrapped below 0) and saturation
    hue: float = 36.0
    sat: float = 75.0
    beans: int = 0

    def shade(self, b: np.ndarray) -> np.ndarray:
        """The expected relative brightness at each pixel of bin map ``b``."""
        if self.profile is None:
            return np.ones(b.shape, np.float32)
        return self.profile[np.maximum(b, 0)]

    def as_measurements(self) -> dict[str, float]:
        p = self.profile
        return {
            "lot_v_scale": round(self.v_scale, 3),
            "lot_hue": round(self.hue, 1),
            "lot_sat": round(self.sat, 1),
            # the shaded flank against the lit one, outer band (1: even light)
            "bean_shading": round(float(p[::DEPTHS].min() / p[::DEPTHS].max()), 3)
            if p is not None
            else 1.0,
        }


def learn(
    samples: list[tuple[np.ndarray, np.ndarray, float, float, float]],
    ref_v: float = 161.0,
    max_scale: float = 1.35,
) -> LotColour:
    """The lot's colour and shading profile from its objects: per object (bin map
    over its inner pixels, their V, median V, median S, median hue). Objects far
    darker than the lot (black, sour, partial black) and stones barely move the
    medians; only the brighter half of the objects builds the profile. The lot's V
    is scaled to ``ref_v`` (``LightRules.ref_bean_v``), by at most ``max_scale``."""
    if len(samples) < MIN_BEANS:
        return LotColour()
    med_v = np.array([s[2] for s in samples])
    v_lot = float(np.median(med_v))
    hue = float(np.median([s[4] for s in samples]))
    sat = float(np.median([s[3] for s in samples]))
    scale = float(np.clip(ref_v / max(v_lot, 1.0), 1 / max_scale, max_scale))
    n = SECTORS * DEPTHS
    per: list[np.ndarray] = []
    for b, v, mv, _s, _h in samples:
        if mv < v_lot or mv <= 0:
            continue
        cnt = np.bincount(b, minlength=n)
        tot = np.bincount(b, weights=v / mv, minlength=n)
        per.append(np.where(cnt >= 3, tot / np.maximum(cnt, 1), np.nan))
    if len(per) < MIN_BEANS // 2:
        return LotColour(None, scale, hue, sat, len(samples))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a bin no bean reached
        prof = np.nanmedian(np.array(per), axis=0)
    prof = np.where(np.isfinite(prof), prof, 1.0).astype(np.float32)
    # only the light's direction is divided out: per depth band, each facing
    # direction against the band's mean. What every direction shares (a bean's rim
    # darker than its crest under any light) stays, as the fixed rules know it
    bands = prof.reshape(SECTORS, DEPTHS)
    prof = (bands / np.maximum(bands.mean(axis=0, keepdims=True), 0.05)).reshape(-1)
    return LotColour(np.maximum(prof, 0.05), scale, hue, sat, len(samples))
