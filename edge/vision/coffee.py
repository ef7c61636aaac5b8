"""Green-coffee tray grading: find every bean (touching ones too), measure it in mm
from the ArUco marker, give its screen size (1/64 inch, short axis) and its class.

Classes a camera can see: ``full_black``, ``partial_black``, ``sour``, ``broken``
(broken, chipped or cut), ``insect_damage``, ``foreign_matter``; sound beans are
``normal``. Before any rule, the white cards' colour is divided out (white
balance, :mod:`edge.vision.whitecard`) and the light's fall across the tray is
flattened (:func:`segment.flatten`); the tray in the objects' cast shadows is tray
(:func:`segment.tray_distance`). Every object is found first; then the lot's own
beans give the light's shading profile on a bean and the lot's bean colour
(:mod:`edge.vision.shading`), and each object is judged against them. Rules, in
order, on each object's interior:

- not graded: the marker and lot cards: the objects inside a code's corners (the
  corners where the code was decoded, with white paper round them), any object
  holding a patch of white paper (a card whose code was not read), and a white,
  unsaturated object;
- foreign matter: elongated like a stick, or grey like a stone (a dim stone: greyer
  than any black bean, or grey with a hue no bean has) unless of the lot's own bean
  hue and saturation (a pale, bluish-green lot is beans);
- partial black: a dark region (below DARK_REL of the bean's bright level, against
  what a sound bean shows at that place under this light: a shaded flank is not
  dark) of 12-80 %;
- dark bean (median V, relative to the lot's beans, low): full black or sour, split
  by a line in V, S and hue (their colour ranges overlap at the edges);
- sour: red-brown hue, saturated;
- insect damage: a small, round, dark spot (relative to the bean's own local
  brightness), whether or not it touches the crease; the crease (a streak along the
  bean) and its stub at a broken end are not holes (:func:`_is_hole`);
- broken: the outline facing the tray strays from its least-squares ellipse both
  ways (a straight chord), with a sharp corner helping; the split lines between
  touching beans do not count;
- otherwise normal.

Objects that touch come apart in :func:`_split`, in this order: a patch of tray
enclosed by a ring of objects is opened at its contacts; a seam of tray between
objects lying a pixel or two apart (blur joined them) is cut; concave notches are
cut; a piece still two beans big is split at distance cores; where a cut ran across
an object, the part with its neighbour's colour goes to the neighbour (a stick's
middle, a bean's end against a stone); stick pieces in line are joined; a bean cut
in two is merged.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge.vision import calibration, quality, segment, shading, whitecard
from edge.vision.config import LightRules, VisionConfig
from edge.vision.grading import grade
from edge.vision.result import ProgramResult, unusable
from edge.vision.stats import IntPixels, hue_median, median32, percentile32

SCREEN_UNIT_MM = 25.4 / 64
CLASSES = ("normal", "full_black", "partial_black", "sour", "broken", "insect_damage")
DEFECTS = (*CLASSES[1:], "foreign_matter")

# --- classification thresholds (tuned on simulator seeds 1-20 only) -------------
#: a pixel is "dark" when its V is below this fraction of the bean's 90th percentile
DARK_REL = 0.55
PARTIAL_MIN, PARTIAL_MAX = 0.12, 0.8
#: median V below this: a dark bean, full black or sour: sour when
#: V + SOUR_S_WEIGHT x S - SOUR_H_WEIGHT x H > SOUR_SCORE
DARK_BEAN_V = 100.0
SOUR_S_WEIGHT, SOUR_H_WEIGHT, SOUR_SCORE = 0.7, 1.6, 127.8
#: sour is red-brown (hue below this, or wrapped above 160) and saturated
SOUR_HUE_MAX = 22.0
SOUR_S_MIN = 95.0
#: stones are grey (a bright bean is at S >= 41 on tuning seeds 1-500); sticks are long
STONE_S_MAX = 40.0
STONE_V_MIN = 76.0
#: ... and brighter than it is saturated by this much: a black bean is at most as
#: bright as the dimmest stone and at least as saturated as the greyest is
STONE_VS_GAP = 52.0
#: a dim stone (at a dark edge of the tray) is still greyer than a black bean (S >= 28
#: on tuning seeds 1-200) or, grey, has a hue no bean has: beans are brown to
#: yellow-green (median hue 0-30 for black beans, OpenCV units, red wrapped below 0)
GREY_V_MIN = 60.0
GREY_S_MAX = 24.0
BROWN_HUE = (-8.0, 40.0)
#: grey and this bright (white paper) is a card, not an object on the tray: white
#: balanced, paper is at S ~0-10; the palest beans are at S >= 19
CARD_V_MIN = 200.0
CARD_S_MAX = 15.0
#: an object holding this much white paper (mm²: grey, and at least CARD_PAPER_V of
#: the marker card's white) is a card, whether or not its code was read. On the
#: simulator's trays a card holds ~470-580 mm², no bean or stone over 5 (a lamp's
#: highlight on a cluster)
CARD_PAPER_MM2 = 40.0
CARD_PAPER_V = 0.75
#: issue 17's rules (holes against the bean's own brightness, the crease, the
#: lot's own colour) are in the config: :class:`edge.vision.config.LightRules`
STICK_ELONGATION = 2.5
#: Gaussian smoothing (px) of the flattened image before thresholds, against noise
SMOOTH = 1.0
#: a dark spot longer than this is a line (the crease), not a hole
HOLE_LEN_MM = 2.5
#: broken: the outline strays from its ellipse both ways (a straight chord: outside
#: the ellipse mid-chord, inside it at the corners) by this fraction of the width,
#: with a sharp corner (degrees over ~9 px facing the tray) helping:
#: misfit / BROKEN_MISFIT + corner / BROKEN_CORNER_DEG >= 1
BROKEN_MISFIT = 0.088
BROKEN_CORNER_DEG = 147.0
MIN_AREA_MM2 = 6.0
#: the outline is where the contrast with the tray falls to this fraction of its median
EDGE_LEVEL = 0.6
#: touching objects: cut between two notches of the outline at least this deep, when
#: the cut is shorter than CUT_RATIO x the shallower notch, leaving pieces this big
NOTCH_MIN_MM = 0.6
NOTCH_RATIO = 0.4
PIECE_MIN_MM2 = 12.0
#: a piece left after the cuts, this many beans big and less convex than this: two
LEFTOVER_AREA = 1.3
LEFTOVER_SOLIDITY = 0.91
#: ... or this many beans big, whatever its shape (the largest bean is ~1.6)
TWO_BEANS = 1.9
#: narrower than this is a stick (beans are >= 5 mm wide): never cut across it
THIN_MM = 3.5
#: a hole in the foreground bigger than this is tray seen through a ring of beans
HOLE_OPEN_MM2 = 1.0
#: a way out of an enclosed patch of tray shorter than this is a contact between two
#: objects (through a bean it is at least its width)
CONTACT_MAX_MM = 3.0
#: two pieces narrower than this (a stick blurred; beans are >= 5.2 mm wide), in
#: line, that fill this much of their joint rectangle are one stick
STICK_JOIN_MM = 4.0
STICK_FILL = 0.8
#: a stick's cut-off end widens it by less than this factor
STICK_END = 1.3
#: a piece smaller than this (in beans) that makes one piece this convex with a
#: neighbour, no bigger than the largest bean, is part of that neighbour
FRAGMENT = 0.4
MERGE_SOLID = 0.95
LARGEST = 1.6
#: ... or two pieces together smaller than this and this convex are one bean
PAIR_MAX = 1.3
PAIR_SOLID = 0.975
#: a core of the split smaller than this is a bump of the outline, not a bean
CORE_MIN_MM2 = 2.0
#: a cut across two objects of different colour (a stick between beans, a stone
#: against a bean's end) is moved to the colour boundary: at least this much area
#: (mm²) of one colour, colours this far apart (flattened BGR), the receiver this convex
SETTLE_MIN_MM2 = 1.5
SETTLE_GAP = 25.0
SETTLE_SOLID = 0.95
#: a seam of tray between two objects: a valley of the tray distance narrower than
#: SEAM_WIDTH_MM, deeper than SEAM_DEPTH × the objects' median distance
SEAM_WIDTH_MM = 1.1
SEAM_DEPTH = 0.25
_ROUND = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))


@dataclass(slots=True)
class Bean:
    cls: str
    cx: float
    cy: float
    length_mm: float
    width_mm: float
    screen: int
    holes: int
    contour: np.ndarray
    features: dict[str, float]

    def as_json(self) -> dict[str, Any]:
        return {
            "cls": self.cls,
            "cx": round(self.cx, 1),
            "cy": round(self.cy, 1),
            "length_mm": round(self.length_mm, 3),
            "width_mm": round(self.width_mm, 3),
            "screen": self.screen,
            "holes": self.holes,
            "features": {k: round(v, 3) for k, v in self.features.items()},
        }


def screen_size(width_mm: float) -> int:
    return math.floor(width_mm / SCREEN_UNIT_MM + 1e-9)


def _dark_bean_class(v: float, s: float, h: float) -> str:
    """Full black vs sour for a dark bean (medians of V, S and hue; OpenCV units).
    Their colour ranges overlap; sour is brighter, more saturated and redder (lower
    hue): one linear boundary, fitted on tuning seeds of both settings."""
    return "sour" if v + SOUR_S_WEIGHT * s - SOUR_H_WEIGHT * h > SOUR_SCORE else "full_black"


def _hole_spots(
    v: np.ndarray, mask: np.ndarray, ppm: float, lo: float = LightRules().hole_rel_min
) -> list[dict[str, float]]:
    """The small dark spots inside a bean, each with what tells a hole from the crease
    and its stub: ``peak`` (relative darkness at its darkest: 1 - V / the bean's
    local brightness, the closing of V over HOLE_LEN_MM... a 2 mm disc), ``top``
    (the extent, mm, of its part darker than 0.8 × peak), ``line`` (the extent, mm,
    of the whole dark streak it belongs to), ``base`` (that streak's own darkness
    beside the spot: the 80th percentile over it, 0.5 mm round the spot left out)
    and ``edge`` (mm from its top to the outline). Relative darkness is
    the same on the lit and the shaded flank. Outside the bean is set to black, so
    the bean's own darker rim (shading, blur) is a ramp, not a valley."""
    v8 = v.copy()
    v8[mask == 0] = 0
    k = max(round(2.0 * ppm) | 1, 5)
    # closed in uint8 (max and min of integers: the same values as in float32, faster)
    closed = cv2.morphologyEx(
        v8, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    ).astype(np.float32)
    vs = v8.astype(np.float32)
    rel = (closed - vs) / np.maximum(closed, 1.0)
    core = cv2.erode(mask, np.ones((5, 5), np.uint8)) > 0
    rel[~core] = 0
    if not rel.max() >= lo:  # float32, as ``peaks >= lo`` below
        return []  # no spot reaches ``lo``: every one would be skipped below
    n, lab, stats, _ = cv2.connectedComponentsWithStats((rel > 0.5 * lo).astype(np.uint8))
    if n <= 1:
        return []
    edge: np.ndarray | None = None
    mm = cv2.moments(mask, binaryImage=True)
    _, axis = _shape(mm["mu20"], mm["mu02"], mm["mu11"])
    out: list[dict[str, float]] = []
    # each spot's darkest value at once: most are faint (under ``lo``) and skipped
    spot = lab > 0
    peaks = np.zeros(n, np.float32)
    np.maximum.at(peaks, lab[spot], rel[spot])
    for i in np.flatnonzero(peaks >= lo):
        if i == 0:
            continue
        x, y, w, h, _ = stats[i]
        inside = lab[y : y + h, x : x + w] == i
        sub = np.where(inside, rel[y : y + h, x : x + w], 0)
        peak = float(peaks[i])
        # its darkest part: the piece round the peak (two holes on one crease are two)
        _, tl = cv2.connectedComponents((sub > 0.8 * peak).astype(np.uint8))
        py, px = np.unravel_index(int(np.argmax(sub)), sub.shape)
        top = tl == tl[py, px]
        ys, xs = np.nonzero(top)
        # the streak's own darkness beside the spot (a hole on the crease excluded)
        r = max(round(0.5 * ppm), 2)
        near = cv2.dilate(top.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
        rest = sub[inside & ~near]
        if edge is None:
            edge = cv2.distanceTransform((mask > 0).astype(np.uint8), cv2.DIST_L2, 3)
        # the streak's shape: elongation and angle to the bean's major axis
        m = cv2.moments(inside.astype(np.uint8), binaryImage=True)
        elong, ang = _shape(m["mu20"], m["mu02"], m["mu11"])
        out.append(
            {
                "peak": peak,
                "elong": elong,
                "across": abs((ang - axis + 90.0) % 180.0 - 90.0),
                "top": (max(np.ptp(xs), np.ptp(ys)) + 1) / ppm,
                "line": max(w, h) / ppm,
                "base": percentile32(rest, 80) if rest.size else 0.0,
                "edge": float(edge[y + ys, x + xs].min()) / ppm,
            }
        )
    return out


def _shape(mu20: float, mu02: float, mu11: float) -> tuple[float, float]:
    """(elongation: long over short axis, angle of the long axis in degrees) from
    second central moments."""
    common = math.sqrt(max((mu20 - mu02) ** 2 + 4 * mu11 * mu11, 0.0))
    l1, l2 = (mu20 + mu02 + common) / 2, (mu20 + mu02 - common) / 2
    elong = math.sqrt(l1 / l2) if l2 > 1e-6 else 10.0
    return min(elong, 10.0), math.degrees(0.5 * math.atan2(2 * mu11, mu20 - mu02))


def _is_hole(spot: dict[str, float], r: LightRules = LightRules()) -> bool:
    """A hole is small, round and dark, wherever it lies: its darkest part is
    compact (under HOLE_LEN_MM).

    - Alone (its dark streak no longer than HOLE_LEN_MM): darker than
      ``hole_rel_min``, unless it is a piece of the crease (elongated,
      ``crease_elong``, along the bean's major axis, within ``crease_angle_deg``) or
      a faint mark open to the outline (within ``stub_edge_mm`` and lighter than
      ``hole_rel``: a break's stub).
    - On a streak (the crease, however dark): darker than ``hole_rel``, a cavity,
      and ``hole_over_crease`` × darker than the streak beside it; a streak whose
      darkest part reaches the outline (within ``stub_edge_mm``) is the crease
      running into a break: its stub, not a hole."""
    if spot["top"] > HOLE_LEN_MM:
        return False
    if spot["line"] <= HOLE_LEN_MM:
        if spot["elong"] >= r.crease_elong and spot["across"] <= r.crease_angle_deg:
            return False
        if spot["edge"] < r.stub_edge_mm and spot["peak"] < r.hole_rel:
            return False
        return spot["peak"] >= r.hole_rel_min
    if spot["edge"] < r.stub_edge_mm:
        return False
    return spot["peak"] >= max(r.hole_over_crease * spot["base"], r.hole_rel)


def _hole_depth(
    v: np.ndarray, mask: np.ndarray, ppm: float, r: LightRules = LightRules()
) -> tuple[float, int]:
    """The darkest hole's relative darkness (0 if none) and how many holes."""
    holes = [sp["peak"] for sp in _hole_spots(v, mask, ppm, r.hole_rel_min) if _is_hole(sp, r)]
    return (max(holes) if holes else 0.0), len(holes)


def _ellipse_misfit(contour: np.ndarray, outside: np.ndarray) -> tuple[float, float]:
    """How far the outline strays inside and outside its least-squares ellipse (px,
    the largest radial distance each way). A cut leaves a straight chord: the
    ellipse passes outside its middle and inside its two corners."""
    pts = contour.reshape(-1, 2).astype(np.float32)
    if len(pts) < 6:
        return 0.0, 0.0
    (cx, cy), (d1, d2), ang = cv2.fitEllipse(pts)
    if min(d1, d2) <= 1:
        return 0.0, 0.0
    t = math.radians(ang)
    c, s = math.cos(t), math.sin(t)
    x, y = pts[:, 0] - cx, pts[:, 1] - cy
    u, v = x * c + y * s, -x * s + y * c
    r = np.sqrt((u / (d1 / 2)) ** 2 + (v / (d2 / 2)) ** 2)
    rad = np.sqrt(x * x + y * y)
    dev = (1 - r) * rad / np.maximum(r, 1e-6)  # + inside the ellipse, px along the ray
    ip = contour.reshape(-1, 2)
    facing = outside[ip[:, 1], ip[:, 0]]  # split lines between touching beans do not count
    if not facing.any():
        return 0.0, 0.0
    dev = dev[facing]
    return float(dev.max()), float(-dev.min())


def _sharpest_corner(contour: np.ndarray, outside: np.ndarray, k: int = 4) -> float:
    """The largest turn (degrees) of the outline over 2k points, among stretches that
    face the tray. A cut leaves corners (60-90°); a whole bean turns at most ~35°
    over that length, and a split line between touching beans does not face the tray."""
    pts = contour.reshape(-1, 2)
    n = len(pts)
    if n < 6 * k:
        return 0.0
    ext = outside[pts[:, 1], pts[:, 0]].astype(np.float32)
    window = np.ones(4 * k + 1, np.float32)
    ext_all = np.convolve(np.concatenate([ext[-2 * k :], ext, ext[: 2 * k]]), window, "valid")
    ok = np.flatnonzero(ext_all >= len(window) - 0.5)
    if not ok.size:
        return 0.0
    p = pts.astype(np.float32)
    wrapped = np.concatenate([p[-4:], p, p[:4]])
    sm = np.stack(
        [np.convolve(wrapped[:, c], _CORNER_KERNEL, mode="valid") for c in (0, 1)], axis=1
    )
    # the turn at the points that face the tray only (the same values, fewer of them)
    here = sm[ok]
    fwd = sm[(ok + k) % n] - here
    back = here - sm[(ok - k) % n]
    ang = np.degrees(
        np.abs(np.arctan2(back[:, 0] * fwd[:, 1] - back[:, 1] * fwd[:, 0], _dot2(back, fwd)))
    )
    return float(ang.max())


def _corner_count(contour: np.ndarray, outside: np.ndarray, deg: float, k: int = 4) -> int:
    """How many separate corners (a turn of at least ``deg`` degrees over 2k points,
    at least 2k points apart) the outline has where it faces the tray. A stone's
    outline has corners all round; a broken bean's, the two ends of its break."""
    pts = contour.reshape(-1, 2)
    n = len(pts)
    if n < 6 * k:
        return 0
    ext = outside[pts[:, 1], pts[:, 0]].astype(np.float32)
    window = np.ones(4 * k + 1, np.float32)
    ext_all = np.convolve(np.concatenate([ext[-2 * k :], ext, ext[: 2 * k]]), window, "valid")
    p = pts.astype(np.float32)
    wrapped = np.concatenate([p[-4:], p, p[:4]])
    sm = np.stack(
        [np.convolve(wrapped[:, c], _CORNER_KERNEL, mode="valid") for c in (0, 1)], axis=1
    )
    idx = np.arange(n)
    fwd = sm[(idx + k) % n] - sm
    back = sm - sm[(idx - k) % n]
    ang = np.degrees(
        np.abs(np.arctan2(back[:, 0] * fwd[:, 1] - back[:, 1] * fwd[:, 0], _dot2(back, fwd)))
    )
    ang[ext_all < len(window) - 0.5] = 0.0
    count = 0
    free = np.ones(n, bool)
    for i in np.argsort(-ang, kind="stable"):
        if ang[i] < deg:
            break
        if free[i]:
            count += 1
            free[(i + np.arange(-2 * k, 2 * k + 1)) % n] = False
    return count


_CORNER_KERNEL = np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2)
_CORNER_KERNEL /= _CORNER_KERNEL.sum()


def _dot2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(a * b).sum(axis=1)`` for n × 2 arrays, to the bit (NumPy's sum starts
    from 0.0: two -0.0 products give +0.0, which ``arctan2`` tells apart)."""
    return 0.0 + a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1]


def classify(
    hsv: np.ndarray,
    mask: np.ndarray,
    outside: np.ndarray,
    contour: np.ndarray,
    ppm: float,
    lot: shading.LotColour = shading.LotColour(),
    bmap: np.ndarray | None = None,
    r: LightRules = LightRules(),
) -> tuple[str, int, dict[str, float]]:
    """One object's class, its hole count and the features behind it (ROI arrays).
    ``lot``: the tray's shading profile and bean colour; ``bmap``: the object's
    profile bins (:func:`shading.bins`) when there is a profile; ``r``: the
    config's :class:`LightRules`."""
    (_, _), (rw, rh), _ = cv2.minAreaRect(contour)
    width, length = sorted((rw, rh))
    inner = cv2.erode(mask, np.ones((5, 5), np.uint8))
    if not inner.any():
        inner = mask
    h, s, v = hsv[:, :, 0], hsv[:, :, 1], hsv[:, :, 2]
    sel = inner > 0
    v8 = v[sel]
    vv = v8.astype(np.float32)
    # dark against what a sound bean shows at that place under this light
    vc = vv if bmap is None or lot.profile is None else vv / lot.shade(bmap[sel])
    p90c = percentile32(vc, 90)
    dark_px = np.zeros(mask.shape, np.uint8)
    dark_px[sel] = vc < DARK_REL * p90c
    # the dark part of a bean as a region only (see the config); nothing opened is nothing
    if r.dark_open_mm > 0 and dark_px.any():
        k = max(round(r.dark_open_mm * ppm) | 1, 3)
        dark_px = cv2.morphologyEx(
            dark_px, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        )
    dark = float(np.count_nonzero(dark_px)) / max(np.count_nonzero(sel), 1)
    vh = IntPixels(v8)
    p90 = vh.percentile(90) * lot.v_scale
    med_v = vh.median() * lot.v_scale
    # red wraps round: hue below 0
    med_s, med_h = IntPixels(s[sel]).median(), hue_median(h[sel])
    f = {"v": med_v, "s": med_s, "h": med_h, "dark": dark, "elong": length / max(width, 1.0)}
    holes = 0
    if f["elong"] > STICK_ELONGATION:
        return "foreign_matter", 0, f
    if med_s < CARD_S_MAX and med_v > CARD_V_MIN:
        return "card", 0, f  # white: the marker or lot card, when its code was not read
    # the lot's own bean colour: a pale, bluish-green lot is grey-ish, and beans
    lot_hue = abs(med_h - lot.hue) <= r.lot_hue_tol
    bean_hue = BROWN_HUE[0] <= med_h <= max(BROWN_HUE[1], lot.hue + r.lot_hue_tol)
    stone_grey = (med_s < STONE_S_MAX and med_v > STONE_V_MIN and med_v - med_s > STONE_VS_GAP) or (
        med_v > GREY_V_MIN and (med_s < GREY_S_MAX or (med_s < STONE_S_MAX and not bean_hue))
    )
    if stone_grey:
        # grey as a stone is. Of the lot's hue and about as saturated as its beans, a
        # bean unless its outline has corners all round (a stone; a break leaves two);
        # greyer than that, a bean only when its outline is smooth
        lot_like = False
        if lot_hue and med_s >= r.lot_sat_grey * lot.sat:
            dev_in, dev_out = _ellipse_misfit(contour, outside)
            smooth = max(dev_in, dev_out) / max(width, 1.0) < r.bean_smooth
            lot_like = smooth or (
                med_s >= r.lot_sat_frac * lot.sat
                and _corner_count(contour, outside, r.corner_deg) <= r.bean_corners
            )
        if not lot_like:
            return "foreign_matter", 0, f
    if PARTIAL_MIN <= dark <= PARTIAL_MAX and p90 > 110:
        return "partial_black", 0, f
    if med_v < DARK_BEAN_V:
        return _dark_bean_class(med_v, med_s, med_h), 0, f
    if med_h < SOUR_HUE_MAX and med_s > SOUR_S_MIN:
        return "sour", 0, f
    f["hole"], holes = _hole_depth(v, mask, ppm, r)
    f["p90"] = p90
    f["cut"] = _sharpest_corner(contour, outside)
    f["dev_in"], f["dev_out"] = _ellipse_misfit(contour, outside)
    misfit = min(f["dev_in"], f["dev_out"]) / max(width, 1.0)
    broken = misfit / BROKEN_MISFIT + f["cut"] / BROKEN_CORNER_DEG >= 1.0
    # a broken bean's dark mark is the crease's stub at the break (the fold opened
    # by the break, up to ~0.6 dark); only a hole darker than that is insect damage
    if f["hole"] >= r.hole_rel_broken or (f["hole"] > 0 and not broken):
        return "insect_damage", holes, f
    if broken:
        return "broken", 0, f
    return "normal", 0, f


def _measured(contrast: np.ndarray, mask: np.ndarray, contour: np.ndarray) -> np.ndarray:
    """The outline at half the object's contrast with the tray (blur widens the
    detection mask; half-maximum is where the true edge is)."""
    inner = cv2.erode(mask, np.ones((7, 7), np.uint8))
    if not inner.any():
        return contour
    level = median32(contrast[inner > 0])
    half = ((contrast >= EDGE_LEVEL * level) & (mask > 0)).astype(np.uint8)
    contours, _ = cv2.findContours(half, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return contour
    best = max(contours, key=cv2.contourArea)
    # pixel centres: the outline of n pixels spans n - 1; add half a pixel each side
    return best.astype(np.float32)


def _contrast(flat: segment.Flat) -> np.ndarray:
    """Per pixel, the colour distance from the tray (float32): once for the whole
    image, in cv2 passes, rather than per object."""
    diff = cv2.subtract(flat.image, (*(float(c) for c in flat.background), 0.0))
    cv2.multiply(diff, diff, dst=diff)  # in place: 36 MB less at 2000×1500
    out = cv2.transform(diff, np.ones((1, 3), np.float32))
    return cv2.sqrt(out, dst=out)


def _solid(mask: np.ndarray, level: float = 0.96) -> bool:
    """Convex enough to be one object (two touching beans make a waist)."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    c = max(contours, key=cv2.contourArea)
    hull = cv2.contourArea(cv2.convexHull(c))
    return hull > 0 and cv2.contourArea(c) / hull > level


def _split(
    comp: np.ndarray,
    area: int,
    ppm: float,
    cfg: VisionConfig,
    colour: np.ndarray,
    tray_dist: np.ndarray,
) -> tuple[np.ndarray, int]:
    """One connected object mask (ROI) -> int32 labels of the objects in it, and how
    many. ``colour``: the flattened image over the same ROI; ``tray_dist``: its
    distance from the tray's colour (:func:`segment.tray_distance`)."""
    bean = 0.785 * cfg.coffee.bean_length_mm * cfg.coffee.bean_width_mm * ppm * ppm
    # one bean's area is at most ~ 1.1 x the expected; smaller and convex: no split
    single_max = 1.1 * bean
    if area < single_max and _solid(comp):
        return (comp > 0).astype(np.int32), 1
    # a ring of beans round a patch of tray: cut open at its contacts first
    work = segment.open_holes(comp, CONTACT_MAX_MM * ppm)
    # ... and apart at the seams of tray between objects lying a pixel or two apart
    seam = segment.seams(tray_dist, comp, max(round(SEAM_WIDTH_MM * ppm) | 1, 5), SEAM_DEPTH)
    if seam.any():
        work = np.where(seam, 0, work).astype(np.uint8)
    n, parts = cv2.connectedComponents(work) if work is not comp else (2, None)

    def concave(m: np.ndarray) -> list[np.ndarray]:
        return segment.split_concave(
            m,
            NOTCH_MIN_MM * ppm,
            PIECE_MIN_MM2 * ppm * ppm,
            NOTCH_RATIO,
            single_area=single_max,
            min_width=THIN_MM * ppm,
            small_area=MIN_AREA_MM2 * ppm * ppm,
        )

    pieces: list[np.ndarray] = []
    for k in range(1, n):
        part = comp if parts is None else (parts == k).astype(np.uint8) * 255
        if parts is not None and cv2.countNonZero(part) < MIN_AREA_MM2 * ppm * ppm:
            continue
        pieces += concave(part)
    # a piece still as big as 1.3 beans and clearly not convex (or just as big as two) is two
    # objects whose notches were used up by earlier cuts: split by distance cores, and
    # what that leaves may have notches again
    out: list[np.ndarray] = []
    radius = max(round(0.45 * cfg.coffee.bean_width_mm * ppm), 3)
    todo = [(p, 0) for p in pieces]
    while todo:
        p, depth = todo.pop()
        a = cv2.countNonZero(p)
        if depth < 2 and (
            a > TWO_BEANS * bean or (a > LEFTOVER_AREA * bean and not _solid(p, LEFTOVER_SOLIDITY))
        ):
            labels, k = segment.split(p, radius, min_objects=2)
            if k < 2:
                out.append(p)
                continue
            subs = [(labels == lab).astype(np.uint8) * 255 for lab in range(1, k + 1)]
            todo.extend((q, depth + 1) for s_ in subs for q in concave(s_))
        else:
            out.append(p)
    labels, k = segment.label_pieces(comp, out)
    labels = segment.settle_by_colour(
        labels, k, colour, SETTLE_MIN_MM2 * ppm * ppm, SETTLE_SOLID, SETTLE_GAP
    )
    labels, k = _join_sticks(labels, k, STICK_JOIN_MM * ppm, FRAGMENT * bean)
    return _merge_fragments(labels, k, bean)


def _merge_fragments(labels: np.ndarray, k: int, bean: float) -> tuple[np.ndarray, int]:
    """Two touching pieces that make one convex bean are one: a straight cut between
    two notches can pass inside a bean's curved outline (and leave a small piece
    of it), a cut from one notch can cross a bean. Merged: a piece under FRAGMENT
    beans whose union with a neighbour is MERGE_SOLID convex, or two pieces whose
    union is under PAIR_MAX beans and PAIR_SOLID convex (two beans make a waist)."""
    if k < 2:
        return labels, k
    areas = np.bincount(labels.ravel(), minlength=k + 1)
    merged = False
    for lab in range(1, k + 1):
        if not areas[lab]:
            continue
        m = (labels == lab).astype(np.uint8)
        near = labels[cv2.dilate(m, np.ones((3, 3), np.uint8)) > 0]
        best, best_sol = 0, 0.0
        for nb in np.unique(near):
            union_area = areas[nb] + areas[lab]
            small = areas[lab] < FRAGMENT * bean and union_area < LARGEST * bean
            if nb in (0, lab) or not (small or union_area < PAIR_MAX * bean):
                continue
            sol = segment.mask_solidity(((labels == nb) | (m > 0)).astype(np.uint8) * 255)
            if sol > best_sol and sol > (MERGE_SOLID if small else PAIR_SOLID):
                best, best_sol = int(nb), sol
        if best:
            labels = np.where(labels == lab, best, labels)
            areas[best] += areas[lab]
            areas[lab] = 0
            merged = True
    if not merged:
        return labels, k
    return segment.renumber(labels, k, [lab for lab in range(1, k + 1) if areas[lab] > 0])


def _join_sticks(
    labels: np.ndarray, k: int, width: float, fragment: float
) -> tuple[np.ndarray, int]:
    """Two thin pieces in line are one stick, cut across where it lay against
    something else (a cut between two beans on either side of it can leave a wedge
    of it to a bean): the stick is everything in their joint rotated rectangle, when
    they fill most of it and it is thin. So is a long thin piece and a small piece
    (under ``fragment`` px) touching it that widens it by less than STICK_END: the
    stick's end, cut off where it touched a bean."""
    if k < 2:
        return labels, k
    masks = {lab: (labels == lab).astype(np.uint8) for lab in range(1, k + 1)}
    rects = {lab: cv2.minAreaRect(cv2.findNonZero(m)) for lab, m in masks.items() if m.any()}
    thin = [lab for lab, r in rects.items() if min(r[1]) < width]
    if not thin:
        return labels, k
    out = labels.copy()
    gone: set[int] = set()
    for i in thin:
        for j in rects:
            if j == i or i in gone or j in gone:
                continue
            short, long_ = sorted(rects[i][1])
            limit = width if j in thin else 0.0
            if masks[j].sum() < fragment and long_ >= 3 * short:
                limit = max(limit, STICK_END * short)
            if not limit:
                continue
            union = cv2.bitwise_or(masks[i], masks[j])
            rect = cv2.minAreaRect(cv2.findNonZero(union))
            if min(rect[1]) >= limit:
                continue  # not in line
            box = np.zeros_like(union)
            cv2.fillPoly(box, [np.round(cv2.boxPoints(rect)).astype(np.int32)], 1)
            inside = (box > 0) & (out > 0)
            if cv2.countNonZero(union) < STICK_FILL * np.count_nonzero(inside):
                continue  # other things fill the rectangle: apart, not one stick
            out[inside] = i
            out[out == j] = i
            masks[i] = (out == i).astype(np.uint8)
            rects[i] = rect
            gone.add(j)
    if not gone:
        return labels, k
    keep = [lab for lab in range(1, k + 1) if lab not in gone and (out == lab).any()]
    return segment.renumber(out, k, keep)


def _exclusions(shape: tuple[int, ...], boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    ex = np.zeros(shape[:2], np.uint8)
    for x, y, w, h in boxes:
        ex[max(y, 0) : y + h, max(x, 0) : x + w] = 255
    return ex


def _paper_objects(
    hsv: np.ndarray,
    cc: np.ndarray,
    n: int,
    flat: np.ndarray,
    marker: np.ndarray,
    min_px: float,
) -> np.ndarray:
    """bool per label of ``cc``: the objects holding at least ``min_px`` pixels of
    white paper (grey, CARD_S_MAX, and at least CARD_PAPER_V of the marker card's
    paper in the flattened image). No bean or stone is paper white over more than
    a few mm² (a lamp's highlight); a card is hundreds."""
    white = whitecard.sample(flat, whitecard.band_points(marker))
    if not len(white):
        return np.zeros(n, bool)
    level = CARD_PAPER_V * float(np.median(white.max(axis=1)))
    paper = cv2.bitwise_and(
        cv2.compare(hsv[:, :, 1], CARD_S_MAX, cv2.CMP_LT),
        cv2.compare(hsv[:, :, 2], min(level, 255.0), cv2.CMP_GE),
    )
    return np.bincount(cc[paper > 0], minlength=n)[:n] >= min_px


def inspect(img: np.ndarray, cfg: VisionConfig, lot: str | None = None) -> ProgramResult:
    """Grade one tray photo (BGR). ``lot`` overrides the QR code (set by a cmd)."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    q = quality.assess(gray, cfg.quality)
    if not q.usable:
        return unusable("coffee", q.reason or "", measurements=q.as_measurements(), lot=lot)
    marker = calibration.find_marker(gray, cfg.coffee.marker)
    if marker is None:
        return unusable("coffee", "no_marker", measurements=q.as_measurements(), lot=lot)
    ppm = marker.px_per_mm
    boxes = [marker.box(0.4)]
    qr_lot, quad = calibration.read_lot(gray)
    codes = [marker.corners] + ([quad] if quad is not None else [])
    on_paper = [whitecard.paper(img, c) for c in codes]
    # colour constancy: the white cards' colour is the light's (and the camera's
    # white balance); it is divided out before any colour rule
    light = whitecard.estimate(img, codes, on_paper)
    if quad is not None and not on_paper[1]:
        # no white card round it: not where the code is (the lot was read, but these
        # corners are tray and beans); the card is found as paper below
        quad, codes = None, codes[:1]
    if quad is not None:
        x0, y0 = quad.min(axis=0)
        x1, y1 = quad.max(axis=0)
        pad = 0.45 * float(x1 - x0)  # the code's own quiet zone and the card around it
        boxes.append((int(x0 - pad), int(y0 - pad), int(x1 - x0 + 2 * pad), int(y1 - y0 + 2 * pad)))
    timings["calibrate"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    exclude = _exclusions(img.shape, boxes)
    flat = segment.flatten(img, exclude, gains=light.gains)
    # sensor noise: a light smoothing before anything is thresholded (the half-max
    # outline of an object does not move under a symmetric blur)
    flat = segment.Flat(
        cv2.GaussianBlur(flat.image, (5, 5), SMOOTH), flat.background, flat.chroma, flat.gradient
    )
    shadow = segment.shadow_level(flat)
    lit = {
        **q.as_measurements(),
        **light.as_measurements(),
        "light_gradient": round(flat.gradient, 4),
        "shadow_level": round(shadow, 3),
    }
    refused = quality.light(light.cast, flat.gradient, shadow, cfg.quality)
    if refused:
        return unusable("coffee", refused, measurements=lit, lot=qr_lot if lot is None else lot)
    tray_dist = segment.tray_distance(flat)
    fg = segment.foreground(flat, dist=tray_dist)
    fg = segment.fill_holes(fg, HOLE_OPEN_MM2 * ppm * ppm)
    flat8 = cv2.convertScaleAbs(flat.image)  # saturating; flat.image is >= 0
    hsv = cv2.cvtColor(flat8, cv2.COLOR_BGR2HSV)
    contrast = tray_dist  # colour distance at its own brightness: shadows are tray
    timings["segment"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    min_area = MIN_AREA_MM2 * ppm * ppm
    n, cc, stats, _ = cv2.connectedComponentsWithStats(fg)
    # the marker and QR cards: the objects inside the codes' quads (shrunk a little;
    # the centre alone can be a white module, a hole left open). Whole objects go,
    # never parts: a bean beside a card keeps its outline (not cut by a box)
    H, W = fg.shape
    card = np.zeros(n, bool)
    for code in codes:
        corners = np.asarray(code, np.float32).reshape(-1, 2)
        mid = corners.mean(axis=0)
        inner = mid + 0.8 * (corners - mid)
        x0, y0 = np.clip(np.floor(inner.min(axis=0)).astype(int), 0, [W - 1, H - 1])
        x1, y1 = np.clip(np.ceil(inner.max(axis=0)).astype(int) + 1, 1, [W, H])
        box = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(box, [np.round(inner - [x0, y0]).astype(np.int32)], 1)
        card[np.unique(cc[y0:y1, x0:x1][box > 0])] = True
    # ... and any object holding a patch of white paper: a card whose code was not
    # read (blur, a fold) is still a card, not a heap of grey "stones"
    card |= _paper_objects(hsv, cc, n, flat.image, marker.corners, CARD_PAPER_MM2 * ppm * ppm)
    card[0] = False
    pad = 3
    # pass 1: the objects, apart; what the lot's beans look like under this light
    found: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    samples: list[tuple[np.ndarray, np.ndarray, float, float, float]] = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area < min_area or card[i]:
            continue
        x0, y0, x1, y1 = max(x - pad, 0), max(y - pad, 0), min(x + w + pad, W), min(y + h + pad, H)
        comp = (cc[y0:y1, x0:x1] == i).astype(np.uint8) * 255
        labels, k = _split(comp, area, ppm, cfg, flat.image[y0:y1, x0:x1], tray_dist[y0:y1, x0:x1])
        outside = cv2.dilate((comp == 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        for lab in range(1, k + 1):
            m = cv2.morphologyEx((labels == lab).astype(np.uint8) * 255, cv2.MORPH_OPEN, _ROUND)
            if cv2.countNonZero(m) < min_area:
                continue
            contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            contour = max(contours, key=cv2.contourArea)
            bmap = shading.bins(m)
            found.append((x0, y0, m, outside, contour, bmap))
            inner = cv2.erode(m, np.ones((5, 5), np.uint8)) > 0
            roi = hsv[y0:y1, x0:x1]
            if inner.any():
                # the lot's figures need no more than every other pixel
                v8 = roi[:, :, 2][inner]
                samples.append(
                    (bmap[inner], v8.astype(np.float32), IntPixels(v8[::2]).median(),
                     IntPixels(roi[:, :, 1][inner][::2]).median(),
                     hue_median(roi[:, :, 0][inner][::2]))
                )  # fmt: skip
    rules = cfg.coffee.rules
    lotc = shading.learn(samples, rules.ref_bean_v, rules.max_v_scale)
    lit.update(lotc.as_measurements())
    # pass 2: each object's class against the lot
    beans: list[Bean] = []
    for x0, y0, m, outside, contour, bmap in found:
        hh, ww = m.shape
        cls, holes, feats = classify(
            hsv[y0 : y0 + hh, x0 : x0 + ww], m, outside, contour, ppm, lotc, bmap, rules
        )
        if cls == "card":
            continue
        (cx, cy), (rw, rh), _ = cv2.minAreaRect(
            _measured(contrast[y0 : y0 + hh, x0 : x0 + ww], m, contour)
        )
        wpx, lpx = sorted((rw, rh))
        wmm, lmm = wpx / ppm, lpx / ppm
        beans.append(
            Bean(
                cls=cls,
                cx=cx + x0,
                cy=cy + y0,
                length_mm=lmm,
                width_mm=wmm,
                screen=screen_size(wmm) if cls != "foreign_matter" else 0,
                holes=holes,
                contour=contour + np.array([x0, y0], np.int32),
                features=feats,
            )
        )
    timings["classify"] = time.perf_counter() - t2
    return _result(beans, cfg, qr_lot if lot is None else lot, ppm, lit, img, marker, timings, t0)


def _result(
    beans: list[Bean],
    cfg: VisionConfig,
    lot: str | None,
    ppm: float,
    lit: dict[str, float],
    img: np.ndarray,
    marker: calibration.Marker,
    timings: dict[str, float],
    t0: float,
) -> ProgramResult:
    counts = {c: 0 for c in (*CLASSES, "foreign_matter")}
    for b in beans:
        counts[b.cls] += 1
    real = [b for b in beans if b.cls != "foreign_matter"]
    counts["beans"] = len(real)
    for b in real:
        key = f"screen_{b.screen}"
        counts[key] = counts.get(key, 0) + 1
    g = grade({k: counts[k] for k in DEFECTS}, len(real), cfg.coffee.grading)
    widths = np.array([b.width_mm for b in real]) if real else np.zeros(1)
    lengths = np.array([b.length_mm for b in real]) if real else np.zeros(1)
    measurements = {
        "px_per_mm": round(ppm, 4),
        "width_mm_mean": round(float(widths.mean()), 3),
        "width_mm_median": round(float(np.median(widths)), 3),
        "length_mm_mean": round(float(lengths.mean()), 3),
        "screen_median": float(np.median([b.screen for b in real])) if real else 0.0,
        "full_defects": float(g.full_defects),
        "category1": float(g.category1),
        "category2": float(g.category2),
        "defect_scale": g.scale,
        **lit,
    }
    from edge.vision.annotate import draw_coffee

    timings["total"] = time.perf_counter() - t0
    return ProgramResult(
        program="coffee",
        usable=True,
        lot=lot,
        grade=g.grade,
        counts=counts,
        measurements=measurements,
        objects=[b.as_json() for b in beans],
        timings=timings,
        annotated=draw_coffee(img, beans, marker),
    )
