"""The camera simulator's real-light conditions (issue 17): today's trays unchanged,
field draws within their ranges, light, shadows and white balance where physics
puts them."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import cv2
import numpy as np
import pytest

from simulators.camera.coffee import SMALL, make_coffee
from simulators.camera.conditions import (
    LIMITS,
    PALE_GREEN_HSV,
    RESOLUTIONS,
    Conditions,
    field,
    illumination_field,
    resolve,
)

# SMALL seed 3 as the generator drew it before the conditions existed (commit 8134928)
TODAY_SMALL_3 = "495eabbf"


def test_default_conditions_leave_todays_tray_unchanged() -> None:
    image = make_coffee(3, SMALL, conditions=Conditions()).image
    assert np.array_equal(image, make_coffee(3, SMALL).image)
    assert hashlib.sha256(image.tobytes()).hexdigest()[:8] == TODAY_SMALL_3
    assert "conditions" not in make_coffee(3, SMALL).truth


def test_field_draws_every_condition_within_its_range() -> None:
    seen_res = set()
    for seed in range(1, 80):
        c = field(seed)
        assert c == field(seed)
        assert 20 <= c.light_elevation_deg <= 90 and 0 <= c.light_azimuth_deg <= 360
        assert 0.4 <= c.diffuse <= 1.0
        assert c.gradient is not None and 0 <= c.gradient <= 0.3
        assert all(0.95 <= g <= 1.05 for g in c.wb_gain)
        assert c.hole_mm[0] == 0.5 and 1.0 <= c.hole_mm[1] <= 1.5
        assert c.px_per_mm is not None and 6 <= c.px_per_mm <= 9
        assert c.bean_hsv is not None and c.crease_width_mm is not None
        seen_res.add(c.resolution)
    assert seen_res == set(RESOLUTIONS)
    hues = [field(s).bean_hsv[0][1] for s in range(1, 80)]  # type: ignore[index]
    assert max(hues) > PALE_GREEN_HSV[0][0]  # some lots are pale bluish green


def test_resolve_names_and_a_clear_error() -> None:
    assert resolve("default", 1) == Conditions()
    assert resolve("limit:diffuse", 1) == LIMITS["diffuse"]
    with pytest.raises(ValueError, match="unknown"):
        resolve("limit:moonlight", 1)


def test_white_balance_multiplies_the_rendered_image_cards_included() -> None:
    gains = (1.05, 1.0, 0.95)
    plain = make_coffee(3, SMALL, conditions=Conditions(card_white=235.0)).image
    cast = make_coffee(3, SMALL, conditions=Conditions(card_white=235.0, wb_gain=gains)).image
    card = (slice(40, 50), slice(40, 120))  # the ArUco card's quiet zone, top left
    for ch, g in enumerate(gains):
        ratio = cast[card][:, :, ch].mean() / plain[card][:, :, ch].mean()
        assert ratio == pytest.approx(g, abs=0.01)
    assert plain[card].max() < 252  # paper white is not clipped


def test_a_lamp_from_the_right_lights_the_right_flank_and_throws_shadows_left() -> None:
    lamp = Conditions(light_elevation_deg=30.0, light_azimuth_deg=0.0, diffuse=0.4)
    scene = make_coffee(4, replace(SMALL, touching=0.0), conditions=lamp)
    v = cv2.cvtColor(scene.image, cv2.COLOR_BGR2HSV)[:, :, 2].astype(float)
    lit, shaded, tray_left, tray_right = [], [], [], []
    for o in scene.truth["objects"]:
        if o["cls"] != "normal" or o["touching"]:
            continue
        x, y, r = round(o["cx"]), round(o["cy"]), round(o["width_mm"] * 7 / 2)
        far = round(o["length_mm"] * 7 / 2) + 10  # beyond the bean whatever its angle
        if not far + 4 <= x < v.shape[1] - far - 4:
            continue
        lit.append(v[y - 2 : y + 3, x + r - 6 : x + r - 3].mean())
        shaded.append(v[y - 2 : y + 3, x - r + 3 : x - r + 6].mean())
        tray_left.append(v[y - 1 : y + 2, x - far - 4 : x - far].mean())
        tray_right.append(v[y - 1 : y + 2, x + far : x + far + 4].mean())
    assert len(lit) >= 5
    assert np.median(shaded) < 0.8 * np.median(lit)
    assert np.median(tray_left) < 0.85 * np.median(tray_right)


def test_overhead_diffuse_light_is_todays_shading() -> None:
    a = make_coffee(3, SMALL, conditions=Conditions(light_elevation_deg=30.0)).image
    assert np.array_equal(a, make_coffee(3, SMALL).image)  # diffuse 1.0: no lamp


def test_illumination_field_spans_its_strength() -> None:
    f = illumination_field(150, 200, 0.3, 45.0, np.random.default_rng(1))
    assert f.max() == pytest.approx(1.0) and f.min() == pytest.approx(0.7, abs=1e-4)


def test_scale_and_resolution_reach_the_truth() -> None:
    c = Conditions(px_per_mm=9.0, resolution=(1024, 768))
    scene = make_coffee(5, replace(SMALL, objects=20), conditions=c)
    assert scene.image.shape == (768, 1024, 3)
    t = scene.truth
    assert t["px_per_mm"] == 9.0 and t["width"] == 1024 and t["conditions"]["px_per_mm"] == 9.0
    beans = [o for o in t["objects"] if o["cls"] not in ("foreign_matter", "broken")]
    assert all(5.0 <= o["width_mm"] <= 8.5 for o in beans)


def test_every_limit_renders_with_every_class() -> None:
    for name, c in LIMITS.items():
        if c.resolution or c.px_per_mm:
            continue  # size only: covered above
        truth = make_coffee(5, SMALL, conditions=c).truth
        assert truth["counts"]["insect_damage"] >= 1, name
        assert truth["beans"] >= 30, name


def test_cli_flags_choose_the_conditions(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import argparse

    from simulators.cli import _run_camera

    def run(**kw: object) -> int:
        args = dict(
            program="coffee", out=str(tmp_path), seed=3, count=1, harder=False,
            commodity="mango", conditions="default", limit=None,
        ) | kw  # fmt: skip
        return _run_camera(argparse.Namespace(**args))

    assert run(limit="moonlight") == 2
    assert "'moonlight': unknown" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())  # nothing written for a bad name
    assert run(limit="white_balance") == 0
    truth = (tmp_path / "coffee-3.json").read_text()
    assert '"wb_gain"' in truth and "1.05" in truth


def test_a_broken_beans_crease_ends_in_a_stub_at_the_break_and_holes_find_the_crease() -> None:
    from simulators.camera import coffee as gen

    rng = np.random.default_rng(1)
    c = Conditions(crease_width_mm=(0.3, 0.3), crease_length=(0.9, 0.9), hole_on_crease=1.0)
    a, b = 9.6 * 7 / 2, 6.6 * 7 / 2
    for _ in range(20):
        shape, cut_x = gen._cut(gen._bean_outline(rng, a, b), a, rng)
        pts = gen._rotate(shape, rng.uniform(0, np.pi), 200.0, 150.0)
        crease = gen._crease(shape, pts, a, b, cut_x, c, 7.0, rng)
        assert crease.stub is not None  # the chord crosses the crease (0.9 a long)
        assert np.allclose(crease.line[-1], crease.stub[-1])  # the stub ends the crease
        assert np.hypot(*(crease.stub[-1] - crease.stub[0])) == pytest.approx(7.0, abs=0.5)
    canvas = np.zeros((300, 400, 3), np.float32)
    shape = gen._bean_outline(rng, a, b)
    outline = gen._rotate(shape, 0.3, 200.0, 150.0)
    mask = gen._draw_object(canvas, outline, (100.0, 150.0, 160.0), rng, shade=False)
    line = gen._crease(shape, outline, a, b, None, c, 7.0, rng).line
    t = np.linspace(0, len(line) - 1, 400)
    dense = np.stack([np.interp(t, np.arange(len(line)), line[:, k]) for k in (0, 1)], axis=1)
    for _ in range(20):  # on the crease or beside it, by at most 0.6 of the radius
        x, y = gen._hole_spot(mask, 3.5, line, 1.0, rng, (0.0, 0.0))
        assert np.hypot(dense[:, 0] - x, dense[:, 1] - y).min() < 0.6 * 3.5 + 0.3
