"""Real-light conditions for the coffee tray (issue 17): a lamp's direction and
diffuse fraction, an uneven illumination field, a camera's white-balance error,
bean colours, creases, holes, touching, scale and resolution.

:class:`Conditions` holds one tray's values. ``Conditions()`` is today's rendering
(every image of an existing seed unchanged); :func:`field` draws every condition at
random within its range from the seed; :func:`limit` pushes one condition to the
end of its range with the others at default. The light model is in
:func:`object_light`, :func:`shadow_factor` and :func:`illumination_field`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import cv2
import numpy as np

Range = tuple[float, float]

#: today's sound-bean colour (OpenCV H, S, V)
BEAN_HSV: tuple[Range, Range, Range] = ((28.0, 45.0), (45.0, 105.0), (150.0, 205.0))
#: a pale, bluish-green lot (a real variety and drying state)
PALE_GREEN_HSV: tuple[Range, Range, Range] = ((52.0, 72.0), (22.0, 60.0), (165.0, 215.0))
RESOLUTIONS = ((2000, 1500), (2048, 1536))


@dataclass(frozen=True, slots=True)
class Conditions:
    """One tray's conditions. Defaults reproduce today's generator exactly."""

    #: the lamp's elevation above the tray (90: straight above) and azimuth (degrees,
    #: image x to the right, y down: 0 = light from the right, 90 = from below)
    light_elevation_deg: float = 90.0
    light_azimuth_deg: float = 0.0
    #: fraction of the light on a flat surface that is diffuse (ambient, from every
    #: direction); 1.0 = no directional light at all (today's rendering)
    diffuse: float = 1.0
    #: a smooth, curved illumination field across the tray (a lamp's fall-off):
    #: the darkest point gets 1 - gradient of the brightest. None = the settings'
    #: linear gradient (today's); a number replaces it
    gradient: float | None = None
    #: the camera's white balance error: gains on B, G, R after rendering
    wb_gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    #: the white cards' paper (V of an unlit card; 255 today, paper is less)
    card_white: float = 255.0
    #: sound-bean colour ranges (H, S, V); None = today's :data:`BEAN_HSV`
    bean_hsv: tuple[Range, Range, Range] | None = None
    #: crease: darkening (fraction), half-length (fraction of the bean's half
    #: length), width (mm; None = a 1 px line as today), bend (sagitta, fraction of
    #: the half width); per bean drawn from the range
    crease_darkness: Range = (0.12, 0.12)
    crease_length: Range = (0.6, 0.6)
    crease_width_mm: Range | None = None
    crease_bend: Range = (0.0, 0.0)
    #: insect holes: diameter (mm) and the chance each hole sits on the crease
    hole_mm: Range = (0.5, 1.0)
    hole_on_crease: float = 0.0
    #: target fraction of beans touching another (pairs and clusters of three);
    #: None = the settings' value
    touching: float | None = None
    #: scale (px/mm) and frame size (width, height); None = the settings'
    px_per_mm: float | None = None
    resolution: tuple[int, int] | None = None

    @property
    def directional(self) -> bool:
        return self.diffuse < 1.0

    @property
    def is_default(self) -> bool:
        return self == Conditions()

    @property
    def new_crease(self) -> bool:
        return (
            self.crease_width_mm is not None
            or self.crease_darkness != (0.12, 0.12)
            or self.crease_length != (0.6, 0.6)
            or self.crease_bend != (0.0, 0.0)
        )

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: each condition at the end of its range (the others at default). A lamp's
#: elevation and diffuse fraction need each other: the elevation's limit is taken
#: with a diffuse fraction of 0.7, the diffuse limit with the lamp at 45 degrees.
LIMITS: dict[str, Conditions] = {
    "elevation": Conditions(light_elevation_deg=20.0, light_azimuth_deg=30.0, diffuse=0.7),
    "diffuse": Conditions(light_elevation_deg=45.0, light_azimuth_deg=200.0, diffuse=0.4),
    "gradient": Conditions(gradient=0.3),
    "white_balance": Conditions(wb_gain=(1.05, 0.97, 0.95), card_white=235.0),
    "bean_colour": Conditions(bean_hsv=PALE_GREEN_HSV),
    "crease": Conditions(
        crease_darkness=(0.45, 0.6),
        crease_length=(0.85, 0.95),
        crease_width_mm=(0.5, 0.7),
        crease_bend=(-0.12, 0.12),
    ),
    "holes": Conditions(hole_mm=(1.0, 1.5), hole_on_crease=0.6, crease_width_mm=(0.25, 0.4)),
    "touching": Conditions(touching=0.6),
    "scale_6": Conditions(px_per_mm=6.0),
    "scale_9": Conditions(px_per_mm=9.0),
    "resolution": Conditions(resolution=(2048, 1536)),
}


def limit(name: str) -> Conditions:
    """One condition at its limit, the others at default."""
    try:
        return LIMITS[name]
    except KeyError:
        raise ValueError(
            f"conditions limit {name!r}: unknown; one of {', '.join(LIMITS)}"
        ) from None


def field(seed: int) -> Conditions:
    """Every condition drawn at random within its range, from the seed (its own
    stream: the tray's layout stream is untouched)."""
    r = np.random.default_rng([seed, 0x17F1E1D])
    u = r.uniform
    wb = tuple(round(float(u(0.95, 1.05)), 4) for _ in range(3))
    # the lot's own colour: a centre between today's beans and pale bluish green
    mix = float(u(0, 1))
    centre = [
        lo + (hi - lo) * mix for lo, hi in zip(_mid(BEAN_HSV), _mid(PALE_GREEN_HSV), strict=True)
    ]
    spread = (7.0, 22.0, 24.0)
    bean = tuple((round(c - s, 2), round(c + s, 2)) for c, s in zip(centre, spread, strict=True))
    dark = float(u(0.1, 0.5))
    length = float(u(0.5, 0.9))
    width = float(u(0.12, 0.6))
    hole_hi = float(u(1.0, 1.5))
    return Conditions(
        light_elevation_deg=round(float(u(20.0, 90.0)), 2),
        light_azimuth_deg=round(float(u(0.0, 360.0)), 2),
        diffuse=round(float(u(0.4, 1.0)), 3),
        gradient=round(float(u(0.0, 0.3)), 3),
        wb_gain=wb,  # type: ignore[arg-type]
        card_white=round(float(u(225.0, 245.0)), 1),
        bean_hsv=bean,  # type: ignore[arg-type]
        crease_darkness=(round(dark * 0.8, 3), round(min(dark * 1.2, 0.6), 3)),
        crease_length=(round(length * 0.9, 3), round(min(length * 1.1, 0.95), 3)),
        crease_width_mm=(round(width * 0.8, 3), round(width * 1.2, 3)),
        crease_bend=(-0.1, 0.1),
        hole_mm=(0.5, round(hole_hi, 3)),
        hole_on_crease=round(float(u(0.0, 0.6)), 3),
        touching=round(float(u(0.3, 0.55)), 3),
        px_per_mm=round(float(u(6.0, 9.0)), 3),
        resolution=RESOLUTIONS[int(r.integers(len(RESOLUTIONS)))],
    )


def _mid(hsv: tuple[Range, Range, Range]) -> list[float]:
    return [(lo + hi) / 2 for lo, hi in hsv]


def resolve(name: str, seed: int) -> Conditions:
    """``default``, ``field`` (drawn from the seed) or ``limit:NAME``."""
    if name == "default":
        return Conditions()
    if name == "field":
        return field(seed)
    if name.startswith("limit:"):
        return limit(name.split(":", 1)[1])
    raise ValueError(
        f"conditions {name!r}: unknown; use default, field or limit:NAME "
        f"(NAME one of {', '.join(LIMITS)})"
    )


# ------------------------------------------------------------------ the light


@dataclass(frozen=True, slots=True)
class Light:
    """A directional lamp plus ambient light, normalised so that a flat surface in
    full light gets 1.0 (the camera's exposure is set on the tray)."""

    diffuse: float
    direction: np.ndarray  # unit vector toward the lamp: x right, y down, z to the camera
    #: specular highlight: peak (V units) and exponent
    spec_peak: float = 40.0
    spec_power: float = 24.0

    @classmethod
    def of(cls, c: Conditions) -> Light:
        e = math.radians(c.light_elevation_deg)
        a = math.radians(c.light_azimuth_deg)
        d = np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])
        return cls(c.diffuse, d)

    @property
    def sin_e(self) -> float:
        return float(max(self.direction[2], 0.05))

    def shadow_length(self, height_px: float) -> float:
        """How far a top of ``height_px`` throws its shadow across the tray (px)."""
        e = math.asin(self.sin_e)
        return 0.0 if e >= math.radians(89.5) else height_px / math.tan(e)


def object_light(mask: np.ndarray, light: Light, relief: float) -> tuple[np.ndarray, np.ndarray]:
    """The light on one object (a local 0/1 mask): (factor, highlight).

    The object is a dome over its outline (height ``relief`` x its largest inscribed
    radius, parabolic in the distance from the edge); its normals give Lambert
    shading of the direct part: a shaded flank away from the lamp, a bright one
    toward it (rolled off above 1 as a camera's tone curve does) and a specular
    highlight toward it (V units, added)."""
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    dmax = max(float(dist.max()), 1.0)
    t = dist / dmax
    z = (relief * dmax) * (1.0 - (1.0 - t) ** 2)
    z = cv2.GaussianBlur(z, (0, 0), max(1.0, 0.12 * dmax))
    gx = cv2.Sobel(z, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(z, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    norm = np.sqrt(gx * gx + gy * gy + 1.0)
    lx, ly, lz = (float(v) for v in light.direction)
    ndotl = (-gx * lx - gy * ly + lz) / norm
    direct = np.clip(ndotl, 0.0, None) / light.sin_e
    f = light.diffuse + (1.0 - light.diffuse) * direct
    f = np.where(f > 1.0, 1.0 + 0.6 * np.tanh((f - 1.0) / 0.6), f)
    half = light.direction + np.array([0.0, 0.0, 1.0])
    half /= np.linalg.norm(half)
    ndoth = np.clip((-gx * half[0] - gy * half[1] + half[2]) / norm, 0.0, 1.0)
    spec = light.spec_peak * (1.0 - light.diffuse) * ndoth**light.spec_power
    inside = mask > 0
    return (
        np.where(inside, f, 1.0).astype(np.float32),
        np.where(inside, spec, 0.0).astype(np.float32),
    )


def cast_shadow(
    shadow: np.ndarray, mask: np.ndarray, x0: int, y0: int, light: Light, height_px: float
) -> None:
    """Add the object's shadow (its outline swept away from the lamp over the
    shadow's length; a dome throws about 0.7 of a box's) into ``shadow`` (0-1)."""
    length = 0.7 * light.shadow_length(height_px)
    if length < 0.5:
        return
    ux, uy = -light.direction[0], -light.direction[1]
    n = math.hypot(ux, uy)
    if n < 1e-6:
        return
    ux, uy = ux / n, uy / n
    h, w = shadow.shape
    mh, mw = mask.shape
    steps = max(2, min(12, math.ceil(length / 4)))
    for k in range(1, steps + 1):
        dx = round(x0 + ux * length * k / steps)
        dy = round(y0 + uy * length * k / steps)
        ys0, xs0 = max(dy, 0), max(dx, 0)
        ys1, xs1 = min(dy + mh, h), min(dx + mw, w)
        if ys0 >= ys1 or xs0 >= xs1:
            continue
        part = mask[ys0 - dy : ys1 - dy, xs0 - dx : xs1 - dx].astype(np.float32)
        np.maximum(shadow[ys0:ys1, xs0:xs1], part, out=shadow[ys0:ys1, xs0:xs1])


def shadow_factor(shadow: np.ndarray, light: Light, penumbra_px: float) -> np.ndarray:
    """The light on the tray under the cast shadows: only the diffuse part reaches a
    fully shadowed point; edges soften with the lamp's size (the penumbra)."""
    soft = cv2.GaussianBlur(shadow, (0, 0), max(penumbra_px, 0.8))
    return (light.diffuse + (1.0 - light.diffuse) * (1.0 - soft)).astype(np.float32)


def illumination_field(
    h: int, w: int, strength: float, azimuth_deg: float, rng: np.random.Generator
) -> np.ndarray:
    """A smooth, curved illumination field (a lamp off the tray toward
    ``azimuth_deg``, inverse-square-like fall-off, with a little low-frequency
    unevenness), scaled so the darkest point gets ``1 - strength`` of the brightest."""
    a = math.radians(azimuth_deg)
    diag = math.hypot(w, h)
    dist = rng.uniform(0.6, 1.0) * diag
    lx, ly = w / 2 + math.cos(a) * dist, h / 2 + math.sin(a) * dist
    small_h, small_w = max(h // 16, 2), max(w // 16, 2)
    yy, xx = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    xx *= w / small_w
    yy *= h / small_h
    r2 = ((xx - lx) ** 2 + (yy - ly) ** 2) / (0.8 * diag) ** 2
    f = 1.0 / (1.0 + r2)
    bumps = rng.uniform(-1, 1, (4, 5)).astype(np.float32)
    f = f + 0.15 * float(np.ptp(f)) * cv2.resize(
        bumps, (small_w, small_h), interpolation=cv2.INTER_CUBIC
    )
    f = cv2.resize(f.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    lo, hi = float(f.min()), float(f.max())
    return (1.0 - strength * (hi - f) / max(hi - lo, 1e-6)).astype(np.float32)
