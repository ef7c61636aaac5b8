"""Synthetic green-coffee sample trays with ground truth.

A blue-grey tray seen from above, an ArUco calibration marker (top left), the lot
QR card (bottom right) and N objects: beans of every visible defect class and
pieces of foreign matter. Difficulty is fixed by :class:`CoffeeSettings` (see the
README for the values and why); real-light conditions (a lamp's direction, diffuse
fraction, white balance, bean colours, creases, holes, scale, resolution) by
:class:`~simulators.camera.conditions.Conditions`. The ground truth records every
object's class, centre, true size in mm and screen size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

from simulators.camera import render
from simulators.camera.conditions import BEAN_HSV, Conditions, Light
from simulators.camera.conditions import cast_shadow as _cast_shadow
from simulators.camera.conditions import illumination_field as _illumination_field
from simulators.camera.conditions import object_light as _object_light
from simulators.camera.conditions import shadow_factor as _shadow_factor

#: Classes a camera can see. ``normal`` is a sound bean.
BEAN_CLASSES = (
    "normal",
    "full_black",
    "partial_black",
    "sour",
    "broken",
    "insect_damage",
)
DEFECT_CLASSES = (*BEAN_CLASSES[1:], "foreign_matter")
SCREEN_UNIT_MM = 25.4 / 64
SHIFT = 4  # sub-pixel bits for cv2.fillPoly
_ONE = 1 << SHIFT


@dataclass(frozen=True, slots=True)
class CoffeeSettings:
    width: int = 2000
    height: int = 1500
    objects: int = 300
    px_per_mm: float = 7.0
    marker_mm: float = 20.0
    #: at least this fraction of beans touch another bean
    touching: float = 0.42
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    gradient: tuple[float, float] = (0.1, 0.4)
    noise_sigma: tuple[float, float] = (2.0, 5.0)
    #: fraction of objects that are defective (drawn per image from this range)
    defect_fraction: tuple[float, float] = (0.05, 0.2)
    #: at least one object of every defect class
    all_classes: bool = True
    #: relative weight of each defect class when drawing defects
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "full_black": 1.0,
            "partial_black": 1.0,
            "sour": 1.2,
            "broken": 1.5,
            "insect_damage": 1.2,
            "foreign_matter": 0.6,
        }
    )
    #: black beans up to this value (V, 0-255); sour beans from ``sour_v_min``.
    #: The ranges overlap between ``sour_v_min`` and ``black_v_max``.
    black_v_max: float = 80.0
    sour_v_min: float = 68.0
    #: saturation ranges; they overlap too
    black_s_max: float = 120.0
    sour_s_min: float = 105.0


HARDER = CoffeeSettings(
    touching=0.5,
    blur_sigma=(1.2, 2.0),
    gradient=(0.3, 0.5),
    noise_sigma=(4.0, 8.0),
    black_v_max=88.0,
    sour_v_min=62.0,
    black_s_max=130.0,
    sour_s_min=95.0,
)

SMALL = CoffeeSettings(width=800, height=600, objects=40)


@dataclass(slots=True)
class TrayObject:
    id: int
    cls: str
    cx: float
    cy: float
    length_mm: float
    width_mm: float
    screen: int
    touching: bool = False
    holes: int = 0


@dataclass(slots=True)
class CoffeeScene:
    image: np.ndarray
    truth: dict[str, Any]


def screen_size(width_mm: float) -> int:
    """Screen size in 1/64 inch: the largest round hole the bean does not pass."""
    return math.floor(width_mm / SCREEN_UNIT_MM + 1e-9)


def _bean_outline(rng: np.random.Generator, a: float, b: float) -> np.ndarray:
    """An irregular bean outline around the origin, major axis along x (px, float)."""
    t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    r = 1.0 + sum(
        rng.uniform(-0.03, 0.03) * np.cos(k * t + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 4)
    )
    egg = 1.0 + rng.uniform(-0.06, 0.06) * np.cos(t)  # one end blunter
    return np.stack([a * np.cos(t) * r, b * np.sin(t) * r * egg], axis=1)


def _cut(outline: np.ndarray, a: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Broken, chipped or cut: keep one side of a chord across the bean. Returns the
    kept outline and where the chord crosses the major axis (x; the piece is x < it)."""
    offset = rng.uniform(-0.2, 0.55) * a
    tilt = rng.uniform(-0.45, 0.45)
    normal = np.array([math.cos(tilt), math.sin(tilt)])
    side = outline @ normal - offset
    keep: list[np.ndarray] = []
    n = len(outline)
    for i in range(n):
        p, q = outline[i], outline[(i + 1) % n]
        sp, sq = side[i], side[(i + 1) % n]
        if sp <= 0:
            keep.append(p)
        if (sp <= 0) != (sq <= 0):
            keep.append(p + (q - p) * (sp / (sp - sq)))
    return np.array(keep), offset / math.cos(tilt)


def _stone(rng: np.random.Generator, ppm: float) -> np.ndarray:
    k = int(rng.integers(6, 10))
    t = np.sort(rng.uniform(0, 2 * np.pi, k))
    r = rng.uniform(2.5, 5.0) * ppm * rng.uniform(0.7, 1.0, k)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def _stick(rng: np.random.Generator, ppm: float) -> np.ndarray:
    half_l = rng.uniform(6, 12) * ppm
    half_w = rng.uniform(0.8, 1.5) * ppm
    return np.array([[-half_l, -half_w], [half_l, -half_w], [half_l, half_w], [-half_l, half_w]])


def _rotate(pts: np.ndarray, angle: float, cx: float, cy: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return pts @ np.array([[c, s], [-s, c]]) + np.array([cx, cy])


def _fixed(pts: np.ndarray) -> np.ndarray:
    return np.round(pts * _ONE).astype(np.int32).reshape(-1, 1, 2)


def _poly_mask(pts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [_fixed(pts)], 255, cv2.LINE_AA, SHIFT)
    return mask


class _Placer:
    """Occupancy of the tray: free placement with a gap, or touching an anchor."""

    def __init__(self, h: int, w: int, reserved: list[tuple[int, int, int, int]]) -> None:
        self.h, self.w = h, w
        self.occ = np.zeros((h, w), np.uint8)
        for x, y, bw, bh in reserved:
            self.occ[max(y, 0) : y + bh, max(x, 0) : x + bw] = 255

    def _clear(self, pts: np.ndarray, gap: int) -> bool:
        x0, y0 = np.floor(pts.min(axis=0)).astype(int) - gap - 2
        x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + gap + 2
        if x0 < 4 or y0 < 4 or x1 > self.w - 4 or y1 > self.h - 4:
            return False
        local = _poly_mask(pts - np.array([x0, y0]), (y1 - y0, x1 - x0))
        if gap:
            local = cv2.dilate(local, np.ones((2 * gap + 1, 2 * gap + 1), np.uint8))
        return not np.any((local > 0) & (self.occ[y0:y1, x0:x1] > 0))

    def take(self, pts: np.ndarray) -> None:
        cv2.fillPoly(self.occ, [_fixed(pts)], 255, cv2.LINE_AA, SHIFT)

    def free(self, shape: np.ndarray, rng: np.random.Generator, gap: int) -> np.ndarray | None:
        for _ in range(200):
            pts = _rotate(
                shape,
                rng.uniform(0, np.pi),
                rng.uniform(0, self.w),
                rng.uniform(0, self.h),
            )
            if self._clear(pts, gap):
                return pts
        return None

    def touching(
        self, shape: np.ndarray, anchor: tuple[float, float], rng: np.random.Generator
    ) -> np.ndarray | None:
        """Slide the shape from the anchor's centre outward until it just clears."""
        for _ in range(20):
            angle = rng.uniform(0, 2 * np.pi)
            direction = np.array([math.cos(angle), math.sin(angle)])
            rot = rng.uniform(0, np.pi)
            coarse = next(
                (
                    d
                    for d in np.arange(4.0, 160.0, 4.0)
                    if self._clear(_rotate(shape, rot, *(np.array(anchor) + d * direction)), 0)
                ),
                None,
            )
            if coarse is None:
                continue
            for d in np.arange(coarse - 3.0, coarse + 1.0, 1.0):
                pts = _rotate(shape, rot, *(np.array(anchor) + d * direction))
                if self._clear(pts, 0):
                    # contact: the previous step overlapped, this one clears by < 1 px
                    return pts
        return None


@dataclass(frozen=True, slots=True)
class _Crease:
    """A crease under the real-light conditions: a polyline (px, image), its
    darkening, its width (px), and the stub at a broken end (a segment) or None."""

    line: np.ndarray
    darkness: float
    width_px: float
    stub: np.ndarray | None = None

    def darkening(self, x0: int, y0: int, h: int, w: int) -> np.ndarray:
        """Darkening (0-1) over the object's local box."""
        out = self._draw(self.line, x0, y0, h, w, self.width_px) * self.darkness
        if self.stub is not None:
            stub = self._draw(self.stub, x0, y0, h, w, max(self.width_px * 1.5, 2.0))
            out = np.maximum(out, stub * min(0.75, self.darkness * 1.5 + 0.1))
        return out

    @staticmethod
    def _draw(line: np.ndarray, x0: int, y0: int, h: int, w: int, width_px: float) -> np.ndarray:
        canvas = np.zeros((h, w), np.uint8)
        thick = max(1, round(width_px))
        cv2.polylines(canvas, [_fixed(line - [x0, y0])], False, 255, thick, cv2.LINE_AA, SHIFT)
        out = canvas.astype(np.float32) / 255.0
        if width_px > 1.5:
            out = cv2.GaussianBlur(out, (0, 0), 0.25 * width_px)
            out /= max(float(out.max()), 1e-6)
        return out


@dataclass(frozen=True, slots=True)
class _Local:
    """A mask of one object: its own small array and where it sits."""

    x0: int
    y0: int
    mask: np.ndarray

    def pixels(self) -> tuple[np.ndarray, np.ndarray]:
        ys, xs = np.nonzero(self.mask)
        return ys + self.y0, xs + self.x0


def _draw_object(
    canvas: np.ndarray,
    pts: np.ndarray,
    colour: tuple[float, float, float],
    rng: np.random.Generator,
    *,
    shade: bool,
    crease: tuple[np.ndarray, np.ndarray] | _Crease | None = None,
) -> _Local:
    """Fill ``pts`` with ``colour`` (shaded like a convex bean); returns its mask."""
    x0, y0 = np.floor(pts.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + 2
    h, w = y1 - y0, x1 - x0
    local = pts - np.array([x0, y0])
    mask = _poly_mask(local, (h, w)).astype(np.float32) / 255.0
    fill = np.empty((h, w, 3), np.float32)
    fill[:] = colour
    if shade:
        dist = cv2.distanceTransform((mask > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
        depth = dist / max(float(dist.max()), 1.0)
        fill *= (0.82 + 0.18 * np.sqrt(depth))[:, :, None]
        fill += rng.normal(0, 3.0, (h, w, 1)).astype(np.float32)
    if isinstance(crease, _Crease):
        fill *= (1.0 - crease.darkening(x0, y0, h, w))[:, :, None]
    elif crease is not None:
        a, b = crease
        line = np.zeros((h, w), np.uint8)
        p, q = (a - [x0, y0]), (b - [x0, y0])
        cv2.line(line, _fixed(p)[0, 0], _fixed(q)[0, 0], 255, 1, cv2.LINE_AA, SHIFT)
        fill *= (1.0 - 0.12 * line.astype(np.float32) / 255.0)[:, :, None]
    region = canvas[y0:y1, x0:x1]
    region[:] = region * (1 - mask[:, :, None]) + fill * mask[:, :, None]
    return _Local(x0, y0, (mask > 0.5).astype(np.uint8))


def _colour(
    cls: str,
    s: CoffeeSettings,
    rng: np.random.Generator,
    bean_hsv: tuple[tuple[float, float], ...] = BEAN_HSV,
) -> tuple[float, float, float]:
    if cls == "full_black":
        return render.hsv_to_bgr(
            rng.uniform(5, 25), rng.uniform(30, s.black_s_max), rng.uniform(30, s.black_v_max)
        )
    if cls == "sour":
        return render.hsv_to_bgr(
            rng.uniform(2, 18), rng.uniform(s.sour_s_min, 200), rng.uniform(s.sour_v_min, 150)
        )
    (h0, h1), (s0, s1), (v0, v1) = bean_hsv
    return render.hsv_to_bgr(rng.uniform(h0, h1), rng.uniform(s0, s1), rng.uniform(v0, v1))


def _classes(n: int, s: CoffeeSettings, rng: np.random.Generator) -> list[str]:
    n_def = round(n * rng.uniform(*s.defect_fraction))
    names = list(s.weights)
    p = np.array([s.weights[k] for k in names])
    picked = list(rng.choice(names, size=n_def, p=p / p.sum()))
    if s.all_classes:
        for k in names:
            if k not in picked:
                picked.append(k)
    picked = picked[:n]
    out = picked + ["normal"] * (n - len(picked))
    rng.shuffle(out)
    return out


def make_coffee(
    seed: int,
    settings: CoffeeSettings = CoffeeSettings(),
    lot: str = "",
    conditions: Conditions | None = None,
) -> CoffeeScene:
    """Render one tray. Same seed, settings and conditions: same image and truth.
    ``conditions`` None (or ``Conditions()``) is today's rendering, unchanged."""
    s = settings
    c = conditions or Conditions()
    rng = np.random.default_rng(seed)
    # the conditions' own per-object draws: the layout stream above stays as it was
    crng = np.random.default_rng([seed, 17])
    ppm = c.px_per_mm or s.px_per_mm
    lot = lot or f"LOT-{seed:06d}"
    w, h = c.resolution or (s.width, s.height)
    light = Light.of(c) if c.directional else None
    lit = _Lit(h, w, light, ppm) if light is not None else None

    tray = render.hsv_to_bgr(rng.uniform(98, 118), rng.uniform(80, 160), rng.uniform(150, 215))
    canvas = np.empty((h, w, 3), np.float32)
    canvas[:] = tray
    canvas += render.low_frequency_texture(h, w, rng, 12.0)[:, :, None]

    side = round(s.marker_mm * ppm)
    marker = render.paste_marker(canvas, 40 + side // 4, 40 + side // 4, side, c.card_white)
    qr_side = max(round(24 * ppm), 120)
    qr = render.paste_qr(canvas, w - qr_side - 50, h - qr_side - 50, qr_side, lot, c.card_white)
    placer = _Placer(h, w, [marker.box(side // 4 + 12), qr.box(qr_side // 10 + 12)])

    classes = _classes(s.objects, s, rng)
    n_touch = math.ceil((s.touching if c.touching is None else c.touching) * s.objects)
    bean_hsv = c.bean_hsv or BEAN_HSV
    objects: list[TrayObject] = []
    masks: list[_Local] = []
    cluster_left = 0
    in_clusters = 0
    first_attach = False
    anchor: tuple[float, float] | None = None
    for _i, cls in enumerate(classes):
        length = float(np.clip(rng.normal(9.6, 0.8), 7.5, 12.0))
        width = float(np.clip(rng.normal(6.6, 0.5), 5.2, 8.0))
        a, b = length * ppm / 2, width * ppm / 2
        crease: tuple[np.ndarray, np.ndarray] | _Crease | None = None
        cut_x: float | None = None
        if cls == "foreign_matter":
            shape = _stone(rng, ppm) if rng.random() < 0.6 else _stick(rng, ppm)
        else:
            shape = _bean_outline(rng, a, b)
            if cls == "broken":
                shape, cut_x = _cut(shape, a, rng)
        if cluster_left > 0 and anchor is not None:
            pts = placer.touching(shape, anchor, rng)
            cluster_left -= 1
            if pts is not None:
                in_clusters += 2 if first_attach else 1
                first_attach = False
        elif in_clusters < n_touch:
            cluster_left = int(rng.choice([1, 2]))  # beans still to attach: pairs, triples
            anchor = None
            first_attach = True
            pts = placer.free(shape, rng, gap=6)
        else:
            pts = placer.free(shape, rng, gap=6)
        if pts is None:
            continue  # tray full: fewer objects; the truth says how many
        if cluster_left > 0 and anchor is None:
            anchor = (float(pts[:, 0].mean()), float(pts[:, 1].mean()))
        placer.take(pts)
        angle_pts = pts - pts.mean(axis=0)
        if cls != "foreign_matter" and c.new_crease:
            crease = _crease(shape, pts, a, b, cut_x, c, ppm, crng)
        elif cls != "foreign_matter":
            # crease along the major axis of the (unrotated) outline
            ax = _principal(angle_pts)
            centre = pts.mean(axis=0)
            crease = (centre - ax * a * 0.6, centre + ax * a * 0.6)
        if cls == "foreign_matter":
            stick = len(shape) == 4
            colour = (
                render.hsv_to_bgr(rng.uniform(10, 20), rng.uniform(80, 150), rng.uniform(60, 120))
                if stick
                else render.hsv_to_bgr(
                    rng.uniform(0, 180), rng.uniform(0, 30), rng.uniform(90, 170)
                )
            )
        else:
            colour = _colour(cls, s, rng, bean_hsv)
        mask = _draw_object(canvas, pts, colour, rng, shade=True, crease=crease)
        holes = 0
        if cls == "partial_black":
            _blacken_part(canvas, mask, pts, s, rng)
        elif cls == "insect_damage":
            line = crease.line if isinstance(crease, _Crease) else None
            holes = _bore(canvas, mask, pts, ppm, rng, c, line, crng)
        if lit is not None:
            lit.add(mask, relief=1.0 if cls != "foreign_matter" else 0.8)
        (_rcx, _rcy), (rw, rh), _ = cv2.minAreaRect(pts.astype(np.float32))
        w_mm, l_mm = sorted((rw / ppm, rh / ppm))
        objects.append(
            TrayObject(
                id=len(objects),
                cls=cls,
                cx=round(float(pts[:, 0].mean()), 1),
                cy=round(float(pts[:, 1].mean()), 1),
                length_mm=round(l_mm, 3),
                width_mm=round(w_mm, 3),
                screen=screen_size(w_mm) if cls != "foreign_matter" else 0,
                holes=holes,
            )
        )
        masks.append(mask)

    _mark_touching(objects, masks, (h, w))
    if lit is not None:
        lit.apply(canvas)
    gradient = float(rng.uniform(*s.gradient))
    if c.gradient is not None:  # a curved field instead of the linear gradient
        azimuth = c.light_azimuth_deg if c.directional else float(crng.uniform(0, 360))
        canvas *= _illumination_field(h, w, c.gradient, azimuth, crng)[:, :, None]
        gradient = 0.0
    image = render.camera(
        canvas,
        rng,
        gradient=gradient,
        blur_sigma=float(rng.uniform(*s.blur_sigma)),
        noise_sigma=float(rng.uniform(*s.noise_sigma)),
        wb_gain=c.wb_gain,
    )
    counts = {c: 0 for c in (*BEAN_CLASSES, "foreign_matter")}
    for o in objects:
        counts[o.cls] += 1
    beans = [o for o in objects if o.cls != "foreign_matter"]
    truth = {
        "program": "coffee",
        "seed": seed,
        "lot": lot,
        "width": w,
        "height": h,
        "px_per_mm": ppm,
        "marker": {"dict": render.MARKER_DICT, "id": render.MARKER_ID, "mm": s.marker_mm},
        "beans": len(beans),
        "counts": counts,
        "touching_fraction": round(sum(o.touching for o in beans) / max(len(beans), 1), 3),
        "objects": [asdict(o) for o in objects],
    }
    if not c.is_default:
        truth["conditions"] = c.as_dict()
    return CoffeeScene(image, truth)


class _Lit:
    """The directional light over the whole tray: per object a shading factor and a
    highlight, on the tray the objects' cast shadows (see ``conditions``)."""

    def __init__(self, h: int, w: int, light: Light, ppm: float) -> None:
        self.light = light
        self.ppm = ppm
        self.gain = np.ones((h, w), np.float32)
        self.spec = np.zeros((h, w), np.float32)
        self.shadow = np.zeros((h, w), np.float32)
        self.objects = np.zeros((h, w), np.uint8)

    def add(self, m: _Local, relief: float) -> None:
        mh, mw = m.mask.shape
        f, spec = _object_light(m.mask, self.light, relief)
        inside = m.mask > 0
        box = (slice(m.y0, m.y0 + mh), slice(m.x0, m.x0 + mw))
        self.gain[box][inside] = f[inside]
        self.spec[box][inside] = spec[inside]
        self.objects[box][inside] = 1
        dist = cv2.distanceTransform(m.mask, cv2.DIST_L2, 3)
        _cast_shadow(self.shadow, m.mask, m.x0, m.y0, self.light, relief * float(dist.max()))

    def apply(self, canvas: np.ndarray) -> None:
        # a bean's top is about its half width (3.3 mm) above the tray: the penumbra
        # of a lamp of some size grows with the shadow's length
        penumbra = 0.15 * self.light.shadow_length(3.3 * self.ppm) + 1.0
        tray = _shadow_factor(self.shadow, self.light, penumbra)
        gain = np.where(self.objects > 0, self.gain, tray)
        canvas *= gain[:, :, None]
        canvas += self.spec[:, :, None]


def _pose(shape: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rigid placement that took ``shape`` to ``pts`` (as ``_rotate``): R, t."""
    d0 = shape[1] - shape[0]
    d1 = pts[1] - pts[0]
    ang = math.atan2(d1[1], d1[0]) - math.atan2(d0[1], d0[0])
    cs, sn = math.cos(ang), math.sin(ang)
    rot = np.array([[cs, sn], [-sn, cs]])
    return rot, pts[0] - shape[0] @ rot


def _crease(
    shape: np.ndarray,
    pts: np.ndarray,
    a: float,
    b: float,
    cut_x: float | None,
    c: Conditions,
    ppm: float,
    crng: np.random.Generator,
) -> _Crease:
    """The bean's long, thin central feature along its major axis (the outline's
    x before placement), bent a little; on a broken bean it runs into the break and
    ends there in a stub (the fold opened by the break)."""
    half = crng.uniform(*c.crease_length) * a
    bend = crng.uniform(*c.crease_bend) * b
    x = np.linspace(-half, half, 13)
    y = bend * (1.0 - (x / half) ** 2)
    rot, t = _pose(shape, pts)
    width_mm = c.crease_width_mm
    width_px = crng.uniform(*width_mm) * ppm if width_mm is not None else 1.0
    stub = None
    if cut_x is not None and -half < cut_x < half:
        keep = x <= cut_x
        x, y = np.append(x[keep], cut_x), np.append(y[keep], bend * (1 - (cut_x / half) ** 2))
        sx = np.array([max(cut_x - 1.0 * ppm, -half), cut_x])
        stub = np.stack([sx, bend * (1 - (sx / half) ** 2)], axis=1) @ rot + t
    line = np.stack([x, y], axis=1) @ rot + t
    return _Crease(line, float(crng.uniform(*c.crease_darkness)), float(width_px), stub)


def _principal(centred: np.ndarray) -> np.ndarray:
    cov = centred.T @ centred
    vals, vecs = np.linalg.eigh(cov)
    return vecs[:, int(np.argmax(vals))]


def _blacken_part(
    canvas: np.ndarray,
    mask: _Local,
    pts: np.ndarray,
    s: CoffeeSettings,
    rng: np.random.Generator,
) -> None:
    """Partial black: one end of the bean, 25-50 % of it, turns black."""
    centre = pts.mean(axis=0)
    axis = _principal(pts - centre) * (1 if rng.random() < 0.5 else -1)
    ys, xs = mask.pixels()
    proj = (np.stack([xs, ys], axis=1) - centre) @ axis
    cut = np.quantile(proj, 1 - rng.uniform(0.25, 0.5))
    dark = proj > cut
    colour = np.array(
        render.hsv_to_bgr(rng.uniform(5, 25), rng.uniform(30, s.black_s_max), rng.uniform(30, 70)),
        np.float32,
    )
    canvas[ys[dark], xs[dark]] = canvas[ys[dark], xs[dark]] * 0.25 + colour * 0.75


def _bore(
    canvas: np.ndarray,
    mask: _Local,
    pts: np.ndarray,
    ppm: float,
    rng: np.random.Generator,
    c: Conditions | None = None,
    crease: np.ndarray | None = None,
    crng: np.random.Generator | None = None,
) -> int:
    """Insect damage: 1-4 small dark holes inside the bean (0.5-1.0 mm today; under
    the conditions their sizes, anywhere on the bean, some on the crease)."""
    c = c or Conditions()
    lo, hi = c.hole_mm
    legacy = c.hole_mm == (0.5, 1.0) and c.hole_on_crease == 0.0
    inner = cv2.erode(mask.mask, np.ones((9, 9), np.uint8))
    ys, xs = np.nonzero(inner)
    ys, xs = ys + mask.y0, xs + mask.x0
    n = int(rng.integers(1, 5))
    for _ in range(n):
        k = int(rng.integers(len(xs)))
        r = rng.uniform(lo / 2, hi / 2) * ppm
        colour = render.hsv_to_bgr(rng.uniform(5, 20), rng.uniform(40, 120), rng.uniform(15, 45))
        x, y = float(xs[k]), float(ys[k])
        if not legacy and crng is not None:
            x, y = _hole_spot(mask, r, crease, c.hole_on_crease, crng, (x, y))
        cv2.circle(
            canvas,
            (int(x * _ONE), int(y * _ONE)),
            int(r * _ONE),
            colour,
            -1,
            cv2.LINE_AA,
            SHIFT,
        )
    return n


def _hole_spot(
    mask: _Local,
    r: float,
    crease: np.ndarray | None,
    on_crease: float,
    crng: np.random.Generator,
    fallback: tuple[float, float],
) -> tuple[float, float]:
    """Anywhere the hole fits wholly inside the bean; with ``on_crease`` chance, on
    (or just beside) the crease."""
    k = 2 * math.ceil(r) + 3
    inner = cv2.erode(mask.mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    ys, xs = np.nonzero(inner)
    if len(xs) == 0:
        return fallback
    if crease is not None and crng.random() < on_crease:
        seg = int(crng.integers(len(crease) - 1))
        p, q = crease[seg], crease[seg + 1]
        spot = p + (q - p) * crng.uniform(0, 1)
        d = q - p
        normal = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-6)
        spot = spot + normal * crng.uniform(-0.6, 0.6) * r
        lx, ly = round(spot[0]) - mask.x0, round(spot[1]) - mask.y0
        if 0 <= ly < inner.shape[0] and 0 <= lx < inner.shape[1] and inner[ly, lx]:
            return float(spot[0]), float(spot[1])
    i = int(crng.integers(len(xs)))
    return float(xs[i] + mask.x0), float(ys[i] + mask.y0)


def _mark_touching(objects: list[TrayObject], masks: list[_Local], shape: tuple[int, int]) -> None:
    """A bean touches another when its outline grown by 2 px overlaps the other's."""
    labels = np.zeros(shape, np.int32)
    for i, m in enumerate(masks):
        labels[m.pixels()] = i + 1
    kernel = np.ones((5, 5), np.uint8)
    for i, m in enumerate(masks):
        grown = cv2.dilate(np.pad(m.mask, 3), kernel)
        ys, xs = np.nonzero(grown)
        ys, xs = ys + m.y0 - 3, xs + m.x0 - 3
        ok = (ys >= 0) & (xs >= 0) & (ys < shape[0]) & (xs < shape[1])
        near = labels[ys[ok], xs[ok]]
        objects[i].touching = bool(np.any((near > 0) & (near != i + 1)))
