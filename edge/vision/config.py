"""Vision config: calibration marker, quality gate, coffee grading table, fruit
commodities. Every value has a documented default; a YAML file overrides any of it
(``dehong vision inspect --config FILE``).

Defaults: the marker is ArUco ``DICT_4X4_50`` id 0, printed 20 mm a side on coffee
trays and 40 mm on the conveyor rail; the grading table is modelled on the SCA
green arabica classification (350 g sample, category-1 and category-2 defects).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Positive = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MarkerConfig(_Model):
    dictionary: str = Field("DICT_4X4_50", pattern=r"^DICT_[A-Z0-9_]+$")
    id: int = Field(0, ge=0)
    #: the printed side of the marker's black square, in mm
    size_mm: Positive = 20.0


class QualityConfig(_Model):
    #: mean grey level (0-255) below which a photo is too dark
    min_mean: float = 45.0
    #: fraction of saturated pixels (>= 250) above which it is overexposed
    max_saturated: float = 0.15
    #: variance of the Laplacian (of the half-size, lightly smoothed grey image)
    #: below which it is blurred. 10 rejects a tray blurred by sigma ~3 px; the
    #: simulator's harder setting (sigma up to 2 px) measures 11.2-40
    min_sharpness: float = 10.0
    #: white balance: the white cards' colour is divided out (per-channel gains, mean
    #: 1). A gain further than this from 1 is refused (``white_balance``): a camera
    #: 5 % off is corrected; 20 % off is a tinted lamp or a card that is not white,
    #: and a correction that large is not trusted
    max_cast: float = Field(0.2, gt=0, lt=1)
    #: the lighting's fall across the tray (1 - darkest / brightest of the field
    #: fitted to the tray between objects): flattened up to this; beyond it the dark
    #: side is too dim to judge colours and shading on (``uneven_light``: light from
    #: one side). The harder simulator setting goes to 50 %
    max_gradient: float = Field(0.65, gt=0, lt=1)
    #: the tray in the objects' cast shadows gets at least this fraction of the full
    #: light (the lamp's diffuse part): shadows darker than that are not told from
    #: dark objects and a bean's shaded flank is nearly black (``uneven_light``).
    #: Room light with a desk lamp leaves shadows at 0.4 or more
    min_shadow: float = Field(0.3, ge=0, lt=1)


class DefectRule(_Model):
    category: Literal[1, 2]
    #: how many of these make one full defect (SCA: 5 broken beans = 1 full defect)
    per_full: Annotated[int, Field(ge=1)]


class GradeBand(_Model):
    name: str
    #: at most this many full defects in a sample (inclusive); None: no upper bound
    max_full: int | None
    #: category-1 defects allowed in this grade
    allow_category1: bool = True


class GradingTable(_Model):
    #: beans in one grading sample (SCA: 350 g, about 2300 beans of 0.15 g)
    sample_beans: Annotated[int, Field(ge=1)] = 2300
    defects: dict[str, DefectRule] = {
        "full_black": DefectRule(category=1, per_full=1),
        "sour": DefectRule(category=1, per_full=1),
        "foreign_matter": DefectRule(category=1, per_full=1),
        "partial_black": DefectRule(category=2, per_full=3),
        "broken": DefectRule(category=2, per_full=5),
        "insect_damage": DefectRule(category=2, per_full=10),
    }
    #: best first; the first band a sample fits is its grade
    grades: list[GradeBand] = [
        GradeBand(name="specialty", max_full=5, allow_category1=False),
        GradeBand(name="premium", max_full=8),
        GradeBand(name="exchange", max_full=23),
        GradeBand(name="below_standard", max_full=86),
        GradeBand(name="off_grade", max_full=None),
    ]

    @model_validator(mode="after")
    def _last_band_open(self) -> GradingTable:
        if not self.grades or self.grades[-1].max_full is not None:
            raise ValueError("grades: the last band must have max_full: null (it takes the rest)")
        return self


class LightRules(_Model):
    """The coffee program's rules that hold under real light (issue 17): judged
    relative to the bean's own local brightness and the lot's own beans, not against
    fixed levels. Tuned on the simulator's tuning seeds (< 1000) only; the meaning of
    each is what a site changes it by."""

    #: holes: relative darkness, 1 - V / the bean's local brightness (the closing of
    #: V over a 2 mm disc), the same on the lit and the shaded flank. A small spot on
    #: its own is a hole from ``hole_rel_min`` (a blurred 0.5 mm hole is that faint)
    hole_rel_min: float = Field(0.33, gt=0, lt=1)
    #: ... on the crease or open to the outline, from ``hole_rel`` (a cavity: no fold
    #: of the surface is that dark)
    hole_rel: float = Field(0.5, gt=0, lt=1)
    #: ... on a bean the outline says is broken, from ``hole_rel_broken``: the fold
    #: the break opened (the crease's stub) can be as dark as a small hole
    hole_rel_broken: float = Field(0.65, gt=0, lt=1)
    #: on a streak (the crease) a hole is this much darker than the streak beside it
    hole_over_crease: float = Field(1.35, ge=1)
    #: a short dark mark this elongated (long over short axis), within this angle
    #: (degrees) of the bean's major axis, is a piece of the crease, not a hole
    crease_elong: float = Field(2.0, ge=1)
    crease_angle_deg: float = Field(25.0, ge=0, le=90)
    #: a dark mark whose darkest part comes this near the outline (mm) is open to it:
    #: the crease's stub at a broken end, unless as dark as ``hole_rel``
    stub_edge_mm: float = Field(0.6, ge=0)
    #: an object within this of the lot's typical bean hue (OpenCV H) and with at
    #: least ``lot_sat_frac`` of its typical saturation is a bean, however grey (a
    #: pale, bluish-green lot); the stone rules are for colours no bean of the lot has
    lot_hue_tol: float = Field(15.0, ge=0)
    lot_sat_frac: float = Field(0.5, ge=0, le=1)
    #: ... down to ``lot_sat_grey`` of it when its outline is smooth (strays from its
    #: ellipse by less than ``bean_smooth`` × its width; a stone has corners)
    lot_sat_grey: float = Field(0.25, ge=0, le=1)
    bean_smooth: float = Field(0.06, gt=0)
    #: Grey as a stone is and not smooth, a lot-like object (``lot_sat_frac``) is
    #: still a stone when its outline has more than ``bean_corners`` corners (turns
    #: of at least ``corner_deg`` degrees over ~1 mm, facing the tray): a broken bean
    #: has the two ends of its break, a stone corners all round (on tuning field
    #: seeds 100-199: 196 of 197 broken beans at most 2, 33 of 43 stones 3 or more)
    bean_corners: int = Field(2, ge=0)
    corner_deg: float = Field(30.0, gt=0, lt=180)
    #: the dark part of a partial black bean is a region: pixels darker than the
    #: shading profile says (``coffee.DARK_REL``) are opened by a disc this wide (mm)
    #: so that a dark, wide crease does not count (the simulator's crease limit:
    #: 0.6 dark, 0.7 mm wide). Not wider: noise speckles a dark end near the limit
    #: and a 1 mm opening erased some (0 turns it off)
    dark_open_mm: float = Field(0.6, ge=0)
    #: the lot's typical bean brightness (median of the beans' median V after
    #: flattening) on the default tuning trays; a lot's V is scaled to it, by at most
    #: ``max_v_scale`` either way (a lot of mostly dark beans stays dark)
    ref_bean_v: float = Field(161.0, gt=0)
    max_v_scale: float = Field(1.35, ge=1)


class CoffeeConfig(_Model):
    marker: MarkerConfig = MarkerConfig()
    grading: GradingTable = GradingTable()
    #: expected bean size (mm); only guides segmentation, never the result
    bean_width_mm: Positive = 6.6
    bean_length_mm: Positive = 9.6
    rules: LightRules = LightRules()


class Stage(_Model):
    name: str
    hue_min: float = Field(ge=0, le=180)
    hue_max: float = Field(ge=0, le=180)


class SizeClass(_Model):
    name: str
    #: smallest axis value (mm) of this class
    min_mm: float = Field(ge=0)


class Commodity(_Model):
    #: maturity stages by mean hue (OpenCV H, 0-180)
    stages: list[Stage]
    size_axis: Literal["length", "width"] = "length"
    #: ascending by min_mm
    size_classes: list[SizeClass]
    #: blemish grade bands: name -> largest blemish % (inclusive), best first
    blemish_grades: dict[str, float] = {"class_1": 2.0, "class_2": 8.0, "reject": 100.0}


class FruitConfig(_Model):
    marker: MarkerConfig = MarkerConfig(size_mm=40.0)
    commodity: str = "mango"
    commodities: dict[str, Commodity] = {
        "mango": Commodity(
            stages=[
                Stage(name="green", hue_min=40, hue_max=60),
                Stage(name="breaker", hue_min=30, hue_max=40),
                Stage(name="ripe", hue_min=20, hue_max=30),
                Stage(name="full_ripe", hue_min=0, hue_max=20),
            ],
            size_axis="length",
            size_classes=[
                SizeClass(name="S", min_mm=0),
                SizeClass(name="M", min_mm=100),
                SizeClass(name="L", min_mm=115),
                SizeClass(name="XL", min_mm=125),
            ],
        ),
        "lemon": Commodity(
            stages=[
                Stage(name="green", hue_min=38, hue_max=60),
                Stage(name="turning", hue_min=30, hue_max=38),
                Stage(name="yellow", hue_min=0, hue_max=30),
            ],
            size_axis="width",
            size_classes=[
                SizeClass(name="S", min_mm=0),
                SizeClass(name="M", min_mm=48),
                SizeClass(name="L", min_mm=53),
                SizeClass(name="XL", min_mm=58),
            ],
        ),
    }
    #: a track not seen for this many frames is finished
    max_missed: Annotated[int, Field(ge=1)] = 3

    @model_validator(mode="after")
    def _known_commodity(self) -> FruitConfig:
        if self.commodity not in self.commodities:
            raise ValueError(
                f"commodity: {self.commodity!r} has no entry in commodities "
                f"({', '.join(sorted(self.commodities))})"
            )
        return self

    def current(self) -> Commodity:
        return self.commodities[self.commodity]


class VisionConfig(_Model):
    quality: QualityConfig = QualityConfig()
    coffee: CoffeeConfig = CoffeeConfig()
    fruit: FruitConfig = FruitConfig()


class VisionConfigError(ValueError):
    """A vision config file that does not validate; the message names the place."""


def load_config(path: Path | None) -> VisionConfig:
    if path is None:
        return VisionConfig()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise VisionConfigError(f"{path}: cannot read ({exc})") from None
    try:
        return VisionConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise VisionConfigError(f"{path}: {where}: {first['msg']}") from None
