"""Splitting touching beans, and holes vs the crease, on drawn shapes (fast)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.vision import coffee, segment
from edge.vision.config import LightRules, VisionConfig

PPM = 7.0
BEAN = 0.785 * 9.6 * 6.6 * PPM * PPM
CFG = VisionConfig()
BEAN_BGR = (120.0, 170.0, 160.0)  # a green bean, flattened
STICK_BGR = (50.0, 55.0, 75.0)  # dark brown
STONE_BGR = (125.0, 128.0, 130.0)  # grey
TRAY_BGR = (200.0, 120.0, 60.0)


def _beans(centres: list[tuple[int, int, float]], size: tuple[int, int] = (260, 260)) -> np.ndarray:
    """Filled ellipses (9.6 x 6.6 mm) at (x, y, angle), blurred and thresholded like a
    photo's foreground: touching beans merge into one mask."""
    img = np.zeros(size, np.uint8)
    for x, y, ang in centres:
        cv2.ellipse(img, ((x, y), (9.6 * PPM, 6.6 * PPM), ang), 255, -1, cv2.LINE_AA)
    img = cv2.GaussianBlur(img, (0, 0), 1.5)
    return ((img > 100) * 255).astype(np.uint8)


def _one_colour(mask: np.ndarray) -> np.ndarray:
    """A flattened colour ROI with every object the same colour: shapes alone decide."""
    return np.where(mask[:, :, None] > 0, BEAN_BGR, TRAY_BGR).astype(np.float32)


def _split_all(mask: np.ndarray, colour: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """coffee._split on a mask; objects all one colour unless ``colour`` is given."""
    colour = _one_colour(mask) if colour is None else colour
    dist = segment.tray_distance(segment.Flat(colour, np.float32(TRAY_BGR), np.zeros(3)))
    return coffee._split(mask, cv2.countNonZero(mask), PPM, CFG, colour, dist)


def _split(mask: np.ndarray) -> list[np.ndarray]:
    return segment.split_concave(
        mask,
        coffee.NOTCH_MIN_MM * PPM,
        coffee.PIECE_MIN_MM2 * PPM * PPM,
        coffee.NOTCH_RATIO,
        single_area=1.1 * BEAN,
        min_width=coffee.THIN_MM * PPM,
        small_area=coffee.MIN_AREA_MM2 * PPM * PPM,
    )


@pytest.mark.parametrize(
    ("centres", "expected"),
    [
        ([(130, 130, 30.0)], 1),
        ([(100, 130, 0.0), (167, 130, 0.0)], 2),  # end to end
        ([(130, 84, 0.0), (130, 130, 0.0), (130, 176, 0.0)], 3),  # side by side, a row
        ([(90, 100, 0.0), (90, 157, 90.0), (157, 100, 0.0)], 3),  # a T and end to end
    ],
)
def test_touching_beans_are_split_at_their_notches(centres, expected: int) -> None:  # type: ignore[no-untyped-def]
    mask = _beans(centres)
    n, _ = cv2.connectedComponents(mask)
    assert n == 2  # one merged object
    pieces = _split(mask)
    assert len(pieces) == expected
    labels, k = segment.label_pieces(mask, pieces)
    assert k == expected and set(np.unique(labels[mask > 0])) == set(range(1, k + 1))


def test_a_stick_touching_a_bean_end_on_is_cut_off_whole() -> None:
    mask = _beans([(80, 130, 0.0)])
    cv2.rectangle(mask, (113, 123), (113 + 16 * 7, 137), 255, -1)  # 16 x 2 mm
    pieces = sorted(_split(mask), key=cv2.countNonZero)
    assert len(pieces) == 2
    (_, _), (w, h), _ = cv2.minAreaRect(cv2.findNonZero(pieces[0]))
    assert max(w, h) > 14 * PPM  # the whole stick, not a fragment


@pytest.mark.parametrize(("d", "e"), [(38, 16), (40, 12), (42, 8)])
def test_a_ring_of_beans_round_a_patch_of_tray_is_opened_and_split(d: int, e: int) -> None:
    """Four beans in a pinwheel enclose a patch of tray: filled, it made one convex
    blob (seen as 1, 3 or 5 beans); left open, the ring is cut at a contact."""
    mask = _beans([(130 - d, 130 - e, 90.0), (130 + d, 130 + e, 90.0), (130 - e, 130 + d, 0.0), (130 + e, 130 - d, 0.0)])  # fmt: skip
    assert cv2.connectedComponents(mask)[0] == 2
    kept = segment.fill_holes(mask, coffee.HOLE_OPEN_MM2 * PPM * PPM)
    assert cv2.countNonZero(kept) == cv2.countNonZero(mask)  # the tray patch stays open
    _, k = _split_all(kept)
    assert k == 4


def test_small_holes_are_filled() -> None:
    mask = _beans([(130, 130, 30.0)])
    cv2.circle(mask, (130, 130), 3, 0, -1)
    assert cv2.countNonZero(segment.fill_holes(mask, coffee.HOLE_OPEN_MM2 * PPM * PPM)) > (
        cv2.countNonZero(mask)
    )


@pytest.mark.parametrize(("dy", "gap"), [(0, 23), (20, 22), (40, 25)])
def test_a_stick_between_two_beans_stays_one_stick(dy: int, gap: int) -> None:
    img = np.zeros((260, 260), np.uint8)
    cv2.rectangle(img, (122, 67), (138, 193), 255, -1)  # 2.4 x 18 mm
    for x, y in ((122 - gap, 100 + dy // 2), (138 + gap, 160 - dy // 2)):
        cv2.ellipse(img, ((x, y), (6.6 * PPM, 9.6 * PPM), 0), 255, -1, cv2.LINE_AA)
    mask = ((cv2.GaussianBlur(img, (0, 0), 1.5) > 100) * 255).astype(np.uint8)
    assert len(_split(mask)) == 4  # the cuts leave the stick in two
    labels, k = _split_all(mask)
    assert k == 3  # ... that are joined again


def test_a_bean_cut_in_two_is_one_again_two_beans_stay_two() -> None:
    one = _beans([(130, 130, 30.0)])
    halves = np.where(one > 0, 1, 0).astype(np.int32)
    halves[:, 125:][one[:, 125:] > 0] = 2  # a cut across the bean
    labels, k = coffee._merge_fragments(halves, 2, BEAN)
    assert k == 1 and set(np.unique(labels)) == {0, 1}
    two = _beans([(100, 130, 0.0), (167, 130, 0.0)])
    pair = np.where(two > 0, 1, 0).astype(np.int32)
    pair[:, 133:][two[:, 133:] > 0] = 2  # the contact
    assert coffee._merge_fragments(pair, 2, BEAN)[1] == 2


def test_a_sticks_cut_off_end_joins_the_stick() -> None:
    labels = np.zeros((80, 200), np.int32)
    labels[30:47, 20:150] = 1  # a stick, 2.4 mm wide
    labels[28:49, 150:172] = 2  # its end, cut off, a little wider
    labels[10:70, 174:198] = 3  # a bean-sized neighbour is not part of it
    labels[30:47, 172:174] = 3
    out, k = coffee._join_sticks(labels, 3, coffee.STICK_JOIN_MM * PPM, coffee.FRAGMENT * BEAN)
    assert k == 2 and out[38, 160] == out[38, 60]


def _bean_v(spot: str) -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros((90, 120), np.uint8)
    cv2.ellipse(mask, ((60, 45), (9.6 * PPM, 6.6 * PPM), 0), 255, -1)
    v = np.where(mask > 0, 180, 150).astype(np.uint8)
    if spot == "crease":
        cv2.line(v, (35, 45), (85, 45), 150, 2)  # 12 % darker, a line
    elif spot == "hole":
        cv2.circle(v, (50, 40), 3, 30, -1)
    v = cv2.GaussianBlur(v, (0, 0), 1.2)
    return v, mask


@pytest.mark.parametrize(("spot", "holes"), [("none", 0), ("crease", 0), ("hole", 1)])
def test_a_crease_is_not_a_hole(spot: str, holes: int) -> None:
    v, mask = _bean_v(spot)
    depth, count = coffee._hole_depth(v, mask, PPM)
    assert count == holes
    assert (depth >= LightRules().hole_rel_min) == (holes > 0)


def _settle(labels: np.ndarray, colour: np.ndarray) -> np.ndarray:
    k = int(labels.max())
    return segment.settle_by_colour(
        labels, k, colour, coffee.SETTLE_MIN_MM2 * PPM * PPM, coffee.SETTLE_SOLID, coffee.SETTLE_GAP
    )


def _paint(
    shape: tuple[int, int], parts: list[tuple[np.ndarray, tuple[float, float, float]]]
) -> np.ndarray:
    img = np.empty((*shape, 3), np.float32)
    img[:] = TRAY_BGR
    for mask, bgr in parts:
        img[mask > 0] = bgr
    return cv2.GaussianBlur(img, (5, 5), 1.0)


def test_a_sticks_middle_taken_by_a_bean_goes_back_to_the_stick() -> None:
    """An outline cut gave the bean the stretch of stick lying along it."""
    bean = _beans([(90, 80, 0.0)], (160, 240))
    stick = np.zeros_like(bean)
    cv2.rectangle(stick, (20, 110), (230, 126), 255, -1)  # 2.4 x 30 mm, along the bean
    bean[stick > 0] = 0
    labels = np.zeros(bean.shape, np.int32)
    labels[bean > 0] = 1
    labels[stick > 0] = 2
    taken = (stick > 0) & (np.arange(240)[None, :] > 60) & (np.arange(240)[None, :] < 120)
    labels[taken] = 1  # the cut ran along the stick's far edge there
    colour = _paint(bean.shape, [(bean, BEAN_BGR), (stick, STICK_BGR)])
    out = _settle(labels, colour)
    assert (out[stick > 0] == 2).mean() > 0.97
    assert (out[cv2.erode(bean, np.ones((5, 5), np.uint8)) > 0] == 1).all()


def test_a_beans_end_cut_off_with_a_stone_goes_back_to_the_bean() -> None:
    bean = _beans([(100, 90, 0.0)], (180, 240))
    stone = np.zeros_like(bean)
    cv2.circle(stone, (160, 90), 18, 255, -1)  # 5 mm across, against the bean's end
    bean[stone > 0] = 0
    labels = np.zeros(bean.shape, np.int32)
    labels[bean > 0] = 1
    labels[stone > 0] = 2
    end = (bean > 0) & (np.arange(240)[None, :] > 118)
    labels[end] = 2  # a straight cut across the bean, short of the stone
    colour = _paint(bean.shape, [(bean, BEAN_BGR), (stone, STONE_BGR)])
    out = _settle(labels, colour)
    inner = cv2.erode(bean, np.ones((5, 5), np.uint8)) > 0
    assert (out[inner] == 1).all()
    assert (out[cv2.erode(stone, np.ones((5, 5), np.uint8)) > 0] == 2).all()


def test_a_partial_black_bean_keeps_its_light_part_beside_a_light_bean() -> None:
    """Given to the light neighbour, the light part would make it two beans: the
    receiver would not be convex, so nothing moves."""
    two = _beans([(80, 90, 0.0), (147, 90, 0.0)], (180, 240))
    labels = np.where(two > 0, 1, 0).astype(np.int32)
    labels[:, 113:][two[:, 113:] > 0] = 2
    right = labels == 2
    dark = right & (np.arange(240)[None, :] > 135)  # most of it, the far side, is black
    colour = _paint(two.shape, [(two, BEAN_BGR), (dark.astype(np.uint8), (30.0, 35.0, 45.0))])
    assert (_settle(labels, colour) == labels).all()


def test_beans_of_one_colour_are_left_as_cut() -> None:
    two = _beans([(80, 90, 0.0), (147, 90, 0.0)], (180, 240))
    labels = np.where(two > 0, 1, 0).astype(np.int32)
    labels[:, 113:][two[:, 113:] > 0] = 2
    assert (_settle(labels, _one_colour(two)) == labels).all()


@pytest.mark.parametrize("gap", [1, 2, 3])
def test_objects_a_pixel_apart_are_parted_at_the_seam_of_tray_between_them(gap: int) -> None:
    """A broken bean's flat cut lying along a bean's flank, ``gap`` px apart: blurred,
    the foreground joins them into one blob too convex to cut at a notch (the outline
    alone makes it one object); the thin line of tray between them parts them."""
    bean = _beans([(110, 110, 0.0)], (200, 220))  # its flank at y = 87
    broken = np.zeros_like(bean)
    cv2.ellipse(broken, ((110, 90 - gap), (6.6 * PPM, 9.6 * PPM), 0), 255, -1, cv2.LINE_AA)
    broken[90 - gap :, :] = 0  # cut flat, into the bean's outline
    bean[:90][broken[:90] > 0] = 0
    colour = cv2.GaussianBlur(
        _paint(bean.shape, [(bean, BEAN_BGR), (broken, BEAN_BGR)]), (0, 0), 1.2
    )
    dist = segment.tray_distance(segment.Flat(colour, np.float32(TRAY_BGR), np.zeros(3)))
    mask = ((dist > 25) * 255).astype(np.uint8)
    assert cv2.connectedComponents(mask)[0] == 2  # one blob
    labels, k = _split_all(mask, colour)
    assert k == 2
    assert labels[120, 110] != labels[75, 110]
