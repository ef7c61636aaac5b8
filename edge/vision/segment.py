"""Objects on a flat, uniformly coloured background (the tray, the belt).

1. The background's colour is its chromaticity (b, g, r) / (b + g + r), which a
   lighting gradient does not change; its brightness is fitted as a smooth
   quadratic surface over the background, and the image is divided by it, so a
   40 % gradient becomes flat light (:func:`flatten`).
2. Foreground: far from the background's opponent colour, or much darker than it.
   Small holes are filled; a big one is tray seen through a ring of touching
   objects, and :func:`open_holes` cuts it out to the outside at each contact.
3. Touching objects are split at the notches of their outline
   (:func:`split_concave`): recursively, the cut between two notches (or from one
   notch straight across) that leaves the most convex pieces; the cut pixels go to
   the nearest piece (:func:`label_pieces`). :func:`split` (distance-transform
   cores) splits what is left: a piece still the size of two beans and clearly not
   convex, whose notches earlier cuts used up.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.vision import stats

_EPS = 1e-3
#: core levels tried in turn, as fractions of the local maximum of the distance
_CORE_LEVELS = (0.5, 0.6, 0.7, 0.8)
#: per cut length (in units of the root of the area) off the score of a cut
CUT_PENALTY = 0.15
#: convex enough to be one object (two touching objects make a waist)
SOLID = 0.96


#: shadows: a cast shadow is the tray lit by less light (the diffuse part only), the
#: same colour at a lower brightness; the tray's colour is expected at a pixel's
#: own brightness within these ratios to the tray's (a lamp with room light: a
#: shadow gets at least ~0.4 of full light; a bright mottle 1.3)
SHADOW_MIN, LIT_MAX = 0.3, 1.3
#: the lighting fit keeps background samples above this fraction of its first pass
SHADOW_FIT = 0.9


@dataclass(frozen=True, slots=True)
class Flat:
    image: np.ndarray  # float32 BGR, the background's brightness made uniform
    background: np.ndarray  # float32 BGR, the background colour after flattening
    chroma: np.ndarray  # 3 floats, the background's chromaticity
    #: the lighting's fall across the background: 1 - darkest / brightest of the
    #: fitted field over the background (0.3: the dark side gets 30 % less light)
    gradient: float = 0.0


def _chromaticity(img: np.ndarray) -> np.ndarray:
    s = img.sum(axis=2, keepdims=True) + _EPS
    return img / s


def _poly_terms(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys], axis=1)


def flatten(
    img: np.ndarray,
    exclude: np.ndarray | None = None,
    step: int = 8,
    gains: np.ndarray | None = None,
) -> Flat:
    """Divide out the lighting, estimated from the background (the most common
    chromaticity). ``exclude``: a mask of pixels known not to be background;
    ``gains``: per-channel (B, G, R) white-balance multipliers, applied first."""
    small = img[::step, ::step].astype(np.float32)
    if gains is not None:
        small *= np.asarray(gains, np.float32)
    ch = _chromaticity(small)
    usable = np.ones(small.shape[:2], bool)
    if exclude is not None:
        usable &= exclude[::step, ::step] == 0
        if usable.mean() < 0.25:  # exclusions that big are wrong: fit the whole frame
            usable[:] = True
    ref = np.median(ch[usable], axis=0)
    dist = np.abs(ch - ref).sum(axis=2)
    bright = small.sum(axis=2)
    bg = usable & (dist < 0.05) & (bright > np.percentile(bright[usable], 20))
    ys, xs = np.nonzero(bg)
    h, w = img.shape[:2]
    ref = np.median(ch[bg], axis=0)
    terms = _poly_terms(xs * step / w, ys * step / h)
    values = bright[bg]
    coef, *_ = np.linalg.lstsq(terms, values, rcond=None)
    # cast shadows are the tray's colour too, darker: they pull a plain fit down.
    # Refit on what is near or above the first fit (shadows fall well below it)
    for _ in range(2):
        lit = values > SHADOW_FIT * (terms @ coef)
        if lit.sum() < 12:
            break
        terms, values = terms[lit], values[lit]
        coef, *_ = np.linalg.lstsq(terms, values, rcond=None)
    gy, gx = np.mgrid[0:h:step, 0:w:step].astype(np.float32)
    field = (_poly_terms(gx.ravel() / w, gy.ravel() / h) @ coef).reshape(gx.shape)
    field = cv2.resize(field.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    peak = float(np.percentile(field, 99))
    # the fall over the background itself (the fit's extrapolation to the frame's
    # corners is not light anyone measured)
    seen = terms @ coef
    lo, hi = np.percentile(seen, [1, 99])
    gradient = float(1.0 - max(lo, 0.0) / hi) if hi > 0 else 1.0
    gain = peak / np.maximum(field, peak * 0.2)
    g = np.ones(3, np.float32) if gains is None else np.asarray(gains, np.float32)
    # cv2 rather than numpy broadcasting (~5x faster); uint8 times float32 straight
    # into float32, a channel at a time: no float copy of the whole image (memory)
    flat = cv2.merge(
        [
            cv2.multiply(ch, gain, scale=float(g[i]), dtype=cv2.CV_32F)
            for i, ch in enumerate(cv2.split(img))
        ]
    )
    return Flat(flat, ref * peak, ref.astype(np.float32), gradient)


#: opponent colours (B - G, G - R): the tray's mottling adds the same to every channel
#: and the lighting multiplies them all, so these stay put where chromaticity drifts
_OPPONENT = np.array([[1, -1, 0], [0, 1, -1]], np.float32)


def foreground(
    flat: Flat,
    colour_tol: tuple[float, float] = (12.0, 30.0),
    dark: float = SHADOW_MIN,
    dist: np.ndarray | None = None,
) -> np.ndarray:
    """uint8 mask (255 = object): off the background's colour (at the pixel's own
    brightness: a shadow on the tray is tray), or darker than ``dark`` × the
    background's brightness (darker than any shadow).

    Off colour: :func:`tray_distance` above 5 × its 40th percentile (the noise:
    most of the frame is tray), clipped to ``colour_tol``."""
    dist = tray_distance(flat) if dist is None else dist
    tol = float(np.clip(5.0 * np.percentile(dist[::8, ::8], 40), *colour_tol))
    off_colour = cv2.compare(dist, tol, cv2.CMP_GT)
    s = cv2.transform(flat.image, np.ones((1, 3), np.float32))
    dark_px = cv2.compare(s, dark * float(flat.background.sum()), cv2.CMP_LT)
    mask = cv2.bitwise_or(off_colour, dark_px)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return mask


def tray_distance(flat: Flat) -> np.ndarray:
    """float32: how far each pixel's colour is from the tray's at the pixel's own
    brightness, in the tray's units. The pixel's brightness relative to the tray's
    is k (sum of channels over the tray's, clipped to SHADOW_MIN-LIT_MAX); the
    distance is that of its opponent colour from k × the tray's (``flat.background``),
    divided by k. A shadow scales every channel alike: it
    stays near the tray's colour at its brightness, where a bean (its shaded flank
    too), a stone or a black bean does not."""
    opp = cv2.transform(flat.image, _OPPONENT)
    # the tray's colour at full light: the background the lighting fit found (a
    # median over the frame would be pulled toward the shadows' darker colour)
    ref = _OPPONENT @ np.asarray(flat.background, np.float32)
    scale = np.full((1, 3), 1.0 / max(float(flat.background.sum()), 1.0), np.float32)
    k = cv2.transform(flat.image, scale)
    cv2.min(k, LIT_MAX, dst=k)
    cv2.max(k, SHADOW_MIN, dst=k)
    a, b = cv2.split(opp)
    del opp
    # in place: a full-frame float temporary is 12 MB at 2000×1500
    cv2.scaleAdd(k, -float(ref[0]), a, dst=a)
    cv2.scaleAdd(k, -float(ref[1]), b, dst=b)
    cv2.multiply(a, a, dst=a)
    cv2.multiply(b, b, dst=b)
    cv2.add(a, b, dst=a)
    cv2.sqrt(a, dst=a)
    return cv2.divide(a, k, dst=a)


def shadow_level(flat: Flat, step: int = 4, tol: float = 0.06) -> float:
    """How much light the tray gets in the deepest cast shadows, relative to full
    light: a low percentile of the brightness of the pixels that have the tray's
    chromaticity (L1 within ``tol``; a shadow keeps it, an object does not). With
    only diffuse light (no shadows) it is near 1; a lamp with little room light
    leaves shadows at its diffuse fraction."""
    small = flat.image[::step, ::step]
    total = small.sum(axis=2)
    bg = float(flat.background.sum())
    ok = total > 0.08 * bg
    ch = small[ok] / total[ok, None]
    near = np.abs(ch - flat.chroma).sum(axis=1) < tol
    if near.sum() < 100:
        return 1.0
    return float(np.percentile(total[ok][near], 0.5)) / max(bg, 1.0)


def seams(dist: np.ndarray, mask: np.ndarray, width: int, depth: float) -> np.ndarray:
    """bool: the thin lines of tray between objects that touch (``dist``: tray
    distance over the ROI of one connected ``mask``). Blur and the foreground's
    tolerance join two objects lying a pixel or two apart; between them the colour
    is nearer the tray's than on either side: a valley narrower than ``width`` px
    and deeper than ``depth`` × the objects' median distance (black top-hat). A
    bean's crease is a valley too, but ends inside the bean: it cuts nothing."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    hat = cv2.morphologyEx(dist, cv2.MORPH_BLACKHAT, k)
    inside = mask > 0
    return inside & (hat > depth * stats.median32(dist[inside]))


def fill_holes(mask: np.ndarray, max_area: float = 0.0) -> np.ndarray:
    """``mask`` with its holes filled; holes of more than ``max_area`` px (when set)
    stay open: the tray seen through a ring of touching objects, not a gap in one."""
    contours, hier = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros_like(mask)
    if not contours:
        return out
    outer = [c for c, h in zip(contours, hier[0], strict=True) if h[3] < 0]
    cv2.drawContours(out, outer, -1, 255, -1)
    if max_area > 0:
        big = [
            c
            for c, h in zip(contours, hier[0], strict=True)
            if h[3] >= 0 and cv2.contourArea(c) > max_area
        ]
        if big:
            holes = np.zeros_like(mask)
            cv2.drawContours(holes, big, -1, 255, -1)
            out[(holes > 0) & (mask == 0)] = 0
    return out


def open_holes(mask: np.ndarray, max_cut: float, width: int = 3) -> np.ndarray:
    """``mask`` (one connected object, holes left open) with its holes opened: a
    patch of tray enclosed by touching objects is cut out to the outside at every
    contact round it (the places where the way out is a local minimum, shorter than
    ``max_cut`` px), so the objects round it come apart there. A hole with no such
    short way out is inside one object: it is filled."""
    filled = fill_holes(mask)
    holes = cv2.subtract(filled, mask)
    if not holes.any():
        return mask
    out = mask.copy()
    n, hl = cv2.connectedComponents(holes)
    # distance of every pixel to the outside, and which outside pixel is nearest
    dist, lab = cv2.distanceTransformWithLabels(
        filled, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    zy, zx = np.nonzero(filled == 0)
    lut = np.zeros((int(lab.max()) + 1, 2), np.int32)
    lut[lab[zy, zx]] = np.stack([zx, zy], axis=1)
    for k in range(1, n):
        hole = (hl == k).astype(np.uint8)
        contours, _ = cv2.findContours(hole, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        rim = max(contours, key=len).reshape(-1, 2)
        d = dist[rim[:, 1], rim[:, 0]]
        m = len(d)
        w = max(min(m // 8, 6), 1)
        ext = np.concatenate([d[-w:], d, d[:w]])
        local = np.lib.stride_tricks.sliding_window_view(ext, 2 * w + 1).min(axis=1)
        cand = np.nonzero((d <= local) & (d < max_cut))[0]
        cuts: list[int] = []
        for c in cand[np.argsort(d[cand], kind="stable")]:
            if all(min(abs(c - o), m - abs(c - o)) > 2 * w for o in cuts):
                cuts.append(int(c))
        if not cuts:
            out[hl == k] = 255  # a gap inside one object
            continue
        for c in cuts:
            x, y = rim[c]
            q = lut[lab[y, x]]
            cv2.line(out, (int(x), int(y)), (int(q[0]), int(q[1])), 0, width)
    return out


def split(
    mask: np.ndarray,
    radius: int,
    min_core: float = 2.5,
    min_objects: int = 1,
    min_core_area: int = 0,
) -> tuple[np.ndarray, int]:
    """Label touching objects in one connected ``mask`` (a small ROI): int32 labels
    (0 = background) and how many. ``radius`` ~ half an object's width in px.

    ``min_objects``: how many objects the mask's area says it holds at least. Beans
    lying side by side along their length leave only a shallow valley in the
    distance transform, so their cores at half the local maximum join; the core
    level is then raised (0.5 -> 0.8 of the local maximum) until the cores part.
    Cores smaller than ``min_core_area`` px (bumps of the outline) are dropped."""
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    k = 2 * radius + 1
    local = cv2.dilate(dist, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    for level in _CORE_LEVELS:
        core = ((dist >= level * local) & (dist >= min_core)).astype(np.uint8)
        n, cores, stats, _ = cv2.connectedComponentsWithStats(core)
        small = stats[:, cv2.CC_STAT_AREA] < min_core_area
        if small[1:].any():  # a bump of the outline, not an object: no core of its own
            core[small[cores]] = 0
            n -= int(small[1:].sum())
        if n - 1 >= min_objects:
            break
    if n <= 2:
        return (mask > 0).astype(np.int32), 1
    # every object pixel goes to its nearest core (cores are the objects shrunk, so
    # the boundary between two cores' regions follows the contact between objects)
    _, labels = cv2.distanceTransformWithLabels(
        (1 - core).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_CCOMP
    )
    labels[mask == 0] = 0
    return labels.astype(np.int32), n - 1


def _outline(mask: np.ndarray) -> np.ndarray | None:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    c = cv2.approxPolyDP(max(contours, key=cv2.contourArea), 1.0, True)
    return c if len(c) >= 4 else None


def _defects(c: np.ndarray, min_depth: float) -> np.ndarray:
    """The polygon's concavities deeper than ``min_depth`` px: rows of (start, end,
    deepest point index, depth px)."""
    hull = cv2.convexHull(c, returnPoints=False)
    try:
        d = cv2.convexityDefects(c, hull)
    except cv2.error:  # hull indices not monotonous: the hull's order, reversed
        try:
            d = cv2.convexityDefects(c, np.sort(hull, axis=0))
        except cv2.error:
            return np.zeros((0, 4))
    if d is None:
        return np.zeros((0, 4))
    d = d.reshape(-1, 4).astype(np.float64)
    d[:, 3] /= 256.0
    return d[d[:, 3] >= min_depth]


def _solidity(poly: np.ndarray) -> tuple[float, float]:
    """(area, area / convex hull area) of a polygon (n × 2)."""
    if len(poly) < 3:
        return 0.0, 0.0
    p = poly.astype(np.float32).reshape(-1, 1, 2)
    area = cv2.contourArea(p)
    hull = cv2.contourArea(cv2.convexHull(p))
    return area, (area / hull if hull > 0 else 0.0)


def mask_solidity(mask: np.ndarray) -> float:
    """Area / convex hull area of the mask's (largest) outline; 0 if it has none."""
    c = _outline(mask)
    return _solidity(c.reshape(-1, 2))[1] if c is not None else 0.0


def _across_thin(poly: np.ndarray, p: np.ndarray, q: np.ndarray, min_width: float) -> bool:
    """The piece is a stick's fragment: thinner than ``min_width`` px, shorter than
    3 × that (a whole stick is longer), and the cut p-q runs across its length
    (within 60° of square to it)."""
    (_, _), (w, h), ang = cv2.minAreaRect(poly.astype(np.float32))
    if min(w, h) >= min_width or max(w, h) >= 3.0 * min_width:
        return False  # not thin, or a whole stick (a stick touching a bean end-on)
    t = np.radians(ang if w >= h else ang + 90.0)  # the long side's direction
    cut = (q - p).astype(np.float64)
    cos = abs(np.cos(t) * cut[0] + np.sin(t) * cut[1]) / max(np.hypot(*cut), 1e-6)
    return bool(cos < 0.5)


def _best_cut(
    c: np.ndarray,
    defects: np.ndarray,
    min_area: float,
    notch_ratio: float,
    min_width: float = 0.0,
    small_area: float = 0.0,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The cut between two notches (or from one notch straight across) whose two
    pieces are the most convex, area-weighted; None when no cut leaves two pieces
    of ``min_area`` that are clearly more convex than the whole."""
    pts = c.reshape(-1, 2)
    n = len(pts)
    whole_area, whole_sol = _solidity(pts)
    scale = max(np.sqrt(whole_area), 1.0)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    idx = defects[:, 2].astype(int)
    depth = defects[:, 3]
    cands: list[tuple[int, int, float]] = []
    for a in range(len(idx)):
        for b in range(a + 1, len(idx)):
            cands.append((idx[a], idx[b], depth[a] + depth[b]))
    if True:  # one notch: straight across, along its inward normal
        for k in range(len(idx)):
            s, e = pts[int(defects[k, 0])], pts[int(defects[k, 1])]
            edge = (e - s).astype(np.float64)
            normal = np.array([edge[1], -edge[0]]) / max(np.hypot(*edge), 1e-6)
            p = pts[idx[k]].astype(np.float64)
            if np.dot(normal, p - s) < 0:
                normal = -normal
            # the polygon vertex nearest the ray's far side
            rel = pts - p
            along = rel @ normal
            off = np.abs(rel @ np.array([-normal[1], normal[0]]))
            ok = along > 2.0
            if ok.any():
                j = int(np.argmin(np.where(ok, off + 0.2 * along, np.inf)))
                cands.append((idx[k], j, 2.0 * depth[k]))  # one notch, half a waist
    for i, j, dsum in cands:
        i, j = min(i, j), max(i, j)
        length = float(np.hypot(*(pts[i] - pts[j]).astype(np.float64)))
        if j - i < 2 or n - (j - i) < 2 or dsum < notch_ratio * length:
            continue
        p1, p2 = pts[i : j + 1], np.concatenate([pts[j:], pts[: i + 1]])
        a1, s1 = _solidity(p1)
        a2, s2 = _solidity(p2)
        if min(a1, a2) < (min_area if dsum < 2.0 * length else small_area):
            continue  # a small piece only behind a clear waist (a pebble on a bean)
        if min_width and (
            _across_thin(p1, pts[i], pts[j], min_width)
            or _across_thin(p2, pts[i], pts[j], min_width)
        ):
            continue  # a cut across a stick, not between it and what it touches
        # the most convex pieces, the shorter cut at a tie (a contact, not across)
        sol = (a1 * s1 + a2 * s2) / max(a1 + a2, 1.0)
        if sol < whole_sol + 0.02:
            continue  # not clearly more convex than the whole: no split there
        score = sol - CUT_PENALTY * length / scale
        if best is None or score > best[0]:
            best = (score, pts[i], pts[j])
    if best is None:
        return None
    return best[1], best[2]


def split_concave(
    mask: np.ndarray,
    min_depth: float,
    min_area: float,
    notch_ratio: float = 0.5,
    max_pieces: int = 12,
    single_area: float = 0.0,
    min_width: float = 0.0,
    small_area: float = 0.0,
) -> list[np.ndarray]:
    """Split touching convex objects, recursively, along the cut between notches of
    the outline (concavities at least ``min_depth`` px deep) that leaves the most
    convex pieces: two convex objects in contact leave a waist between two notches.
    A cut must be short against its notches (their depths add up to at least
    ``notch_ratio`` × its length; a stone's shallow dents do not qualify) and leave
    pieces of at least ``min_area`` px (``small_area`` behind a waist at most half
    as wide as its notches are deep). A cut never leaves a short piece thinner than
    ``min_width`` px (a stick's fragment). Returns one mask per piece (uint8 0/255, the
    shape of ``mask``); cut pixels belong to no piece."""
    small_area = small_area or min_area
    todo, done = [mask], []
    while todo and len(done) + len(todo) <= max_pieces:
        m = todo.pop()
        c = _outline(m)
        cut = None
        if c is not None and not (
            cv2.contourArea(c) < single_area and _solidity(c.reshape(-1, 2))[1] > SOLID
        ):
            defects = _defects(c, min_depth)
            if len(defects):
                cut = _best_cut(c, defects, min_area, notch_ratio, min_width, small_area)
        pieces = None
        if cut is not None:
            cm = m.copy()
            cv2.line(cm, tuple(map(int, cut[0])), tuple(map(int, cut[1])), 0, 2)
            n, lab, stats, _ = cv2.connectedComponentsWithStats(cm, connectivity=4)
            least = min(min_area, small_area)
            big = [k for k in range(1, n) if stats[k, cv2.CC_STAT_AREA] >= least]
            if len(big) >= 2:
                pieces = [(lab == k).astype(np.uint8) * 255 for k in big]
        if pieces is None:
            done.append(m)
        else:
            todo.extend(pieces)
    return done + todo


def label_pieces(mask: np.ndarray, pieces: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """int32 labels: piece k's pixels are k + 1, and every other pixel of ``mask`` (the
    cuts) goes to the nearest piece."""
    if len(pieces) <= 1:
        return (mask > 0).astype(np.int32), 1
    seed_lab = np.zeros(mask.shape, np.int32)
    for k, p in enumerate(pieces):
        seed_lab[p > 0] = k + 1
    seeds = (seed_lab > 0).astype(np.uint8)
    _, labels = cv2.distanceTransformWithLabels(
        1 - seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    # DIST_LABEL_PIXEL numbers every seed pixel: map each back to its piece
    ys, xs = np.nonzero(seeds)
    lut = np.zeros(int(labels.max()) + 1, np.int32)
    lut[labels[ys, xs]] = seed_lab[ys, xs]
    out = lut[labels]
    out[mask == 0] = 0
    return out, len(pieces)


def renumber(labels: np.ndarray, k: int, keep: list[int]) -> tuple[np.ndarray, int]:
    """``labels`` (1..k) with only the labels in ``keep``, numbered 1..n in that
    order; every other label becomes 0. Returns them and n."""
    lut = np.zeros(k + 1, np.int32)
    lut[keep] = np.arange(1, len(keep) + 1)
    return lut[labels], len(keep)


def _touching_pairs(labels: np.ndarray) -> set[tuple[int, int]]:
    """(a, b), a < b: labels that share an edge (4-neighbours)."""
    pairs: set[tuple[int, int]] = set()
    for p, q in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        sel = (p != q) & (p > 0) & (q > 0)
        if sel.any():
            a, b = np.minimum(p[sel], q[sel]), np.maximum(p[sel], q[sel])
            pairs.update(zip(a.tolist(), b.tolist(), strict=True))
    return pairs


def _sq_dist(px: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Squared distance of each pixel (last axis: 3 channels) from colour ``c``:
    ``((px - c) ** 2).sum(axis=-1)`` to the bit (the same dtype and the same
    left-to-right sum of three squares), without NumPy's slow reduction over a
    3-long axis."""
    d = px - c
    d0, d1, d2 = d[..., 0], d[..., 1], d[..., 2]
    return d0 * d0 + d1 * d1 + d2 * d2


def _two_means(px: np.ndarray, ca: np.ndarray, cb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two colour centres for the pixels ``px`` (n × 3), from seeds ``ca``, ``cb``: a
    piece cut across two objects has a mean colour between them; two rounds pull each
    centre to one object's own colour."""
    for _ in range(2):
        nearer_b = _sq_dist(px, cb) < _sq_dist(px, ca)
        if nearer_b.all() or not nearer_b.any():
            break
        ca, cb = px[~nearer_b].mean(axis=0), px[nearer_b].mean(axis=0)
    return ca, cb


def settle_by_colour(
    labels: np.ndarray,
    k: int,
    colour: np.ndarray,
    min_move: float,
    min_solidity: float,
    min_gap: float,
) -> np.ndarray:
    """Move the part of a piece that has its neighbour's colour to that neighbour.

    A cut made from the outline alone can run across an object where two of them
    touch: a stick's middle goes with the beans it lies between, a bean's end with
    the stone against it. For each pair of touching pieces whose mean colours
    differ by ``min_gap`` or more (``colour``: float BGR, the ROI), the pixels of one
    nearer the other's colour (two-means over both), opened, and touching the other,
    at least ``min_move`` px, go over, when the receiver is convex (solidity at least
    ``min_solidity``) and what the giver keeps nearly so (0.05 less: a small piece's
    outline is ragged). A bean with a dark part (partial black) beside a light bean
    keeps its parts: given away, its light part would make the receiver two beans,
    not convex."""
    if k < 2:
        return labels
    out = labels.copy()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    means, boxes = _means(out, k, colour), _boxes(out, k)
    for a, b in sorted(_touching_pairs(labels)):
        if a not in boxes or b not in boxes or np.linalg.norm(means[a] - means[b]) < min_gap:
            continue
        # the pair's own window (plus a margin for the dilations): small arrays
        x0, y0 = np.minimum(boxes[a][:2], boxes[b][:2]) - 3
        x1, y1 = np.maximum(boxes[a][2:], boxes[b][2:]) + 3
        x0, y0 = max(int(x0), 0), max(int(y0), 0)
        win = (slice(y0, int(y1)), slice(x0, int(x1)))
        lab, col = out[win], colour[win]
        ma, mb = lab == a, lab == b
        ca, cb = _two_means(np.concatenate([col[ma][::2], col[mb][::2]]), means[a], means[b])
        if float(np.linalg.norm(ca - cb)) < min_gap:
            continue
        near_b = _sq_dist(col, cb) < _sq_dist(col, ca)
        for src, dst, want, to in ((ma, mb, near_b, b), (mb, ma, ~near_b, a)):
            moved = _reaching(src & want, dst, kernel, min_move)
            if moved is None:
                continue
            got = (dst | moved).astype(np.uint8) * 255
            # the giver's thin leftovers (a shaded rim) go at the object stage's opening
            left = cv2.morphologyEx((src & ~moved).astype(np.uint8) * 255, cv2.MORPH_OPEN, kernel)
            if mask_solidity(got) < min_solidity or (
                left.any() and mask_solidity(left) < min_solidity - 0.05
            ):
                continue
            lab[moved] = to  # a view: writes through to ``out``
            means, boxes = _means(out, k, colour), _boxes(out, k)
            break
    return out


def _means(labels: np.ndarray, k: int, colour: np.ndarray) -> np.ndarray:
    """(k + 1) × 3 mean colour per label."""
    flat = labels.ravel()
    n = np.maximum(np.bincount(flat, minlength=k + 1), 1)
    return np.stack(
        [np.bincount(flat, colour[:, :, c].ravel(), minlength=k + 1) / n for c in range(3)],
        axis=1,
    )


def _boxes(labels: np.ndarray, k: int) -> dict[int, np.ndarray]:
    """Label -> (x0, y0, x1, y1), end exclusive; labels with no pixels left out."""
    out: dict[int, np.ndarray] = {}
    for lab in range(1, k + 1):
        m = (labels == lab).astype(np.uint8)
        x, y, w, h = cv2.boundingRect(m)
        if w:
            out[lab] = np.array([x, y, x + w, y + h])
    return out


def _reaching(
    part: np.ndarray, dst: np.ndarray, kernel: np.ndarray, min_area: float
) -> np.ndarray | None:
    """The blobs of ``part`` (opened by ``kernel``) that touch ``dst`` and are at
    least ``min_area`` px; None if there are none."""
    opened = cv2.morphologyEx(part.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    if cv2.countNonZero(opened) < min_area:
        return None
    _, lab, stats, _ = cv2.connectedComponentsWithStats(opened)
    border = cv2.dilate(dst.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    hit = np.unique(lab[border & (opened > 0)])
    keep = [i for i in hit if i and stats[i, cv2.CC_STAT_AREA] >= min_area]
    if not keep:
        return None
    # give back the rim the opening took, within ``part``
    return (cv2.dilate(np.isin(lab, keep).astype(np.uint8), kernel) > 0) & part
