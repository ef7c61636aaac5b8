"""The 德宏品牌 admission rules as data (pure): each rule is a JSON object with a
``kind``; a rule set is a list of them. Unknown kinds and bad fields are refused with
the field (``rules[2].days``).

Kinds:

- ``{"kind": "certificate", "type": "green_food"}``: a 三品一标 certificate of that type
  (or any of a list of types) covers the lot and is valid now;
- ``{"kind": "commitment_certificate"}``: the lot has its own 承诺达标合格证;
- ``{"kind": "test_passed_within_days", "test": "pesticide_residue", "days": 30}``: a
  test of that kind on the lot within the last N days, and the latest such test passed
  (every result of it);
- ``{"kind": "cold_chain_compliant", "places": "cold"}``: every judged custody
  interval's sensor evidence lies within the product's commodity profile (pending
  evidence and unmeasured judged places fail it; a lot with no custody interval is
  unknown). ``places``: ``cold`` (the default) judges the intervals at cold rooms,
  warehouses and vehicle compartments, at any place whose devices measured it, and at
  places not in our catalog (unknown, so judged); an unmeasured processing site,
  station or customer site (a drying yard, a hulling station) is left out. ``all``
  judges every interval;
- ``{"kind": "camera_grade_at_least", "grade": "G1", "scale": "g"}``: the latest usable
  camera inspection of the lot graded at least this well on the scale (``g``:
  G1 > G2 > ... > G5; ``sca``: specialty > premium > exchange > below_standard >
  off_grade; ``fruit``: class_1 > class_2 > reject; or a list, best first).

Every rule may carry ``categories`` (product category codes): it then applies only to
lots of those categories (for the others it is ``not_applicable``, which does not stand
in the way).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from cloud.catalog.categories import CategoryCode
from cloud.trace.certificates.kinds import CERTIFICATE_TYPES

#: Built-in grade scales, best first.
SCALES: dict[str, tuple[str, ...]] = {
    "g": ("G1", "G2", "G3", "G4", "G5"),
    "sca": ("specialty", "premium", "exchange", "below_standard", "off_grade"),
    "fruit": ("class_1", "class_2", "reject"),
}

TestCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    categories: list[CategoryCode] | None = Field(
        default=None, min_length=1, description="Only lots of these product categories"
    )
    note: str | None = Field(default=None, max_length=300)


class CertificateRule(_Rule):
    kind: Literal["certificate"]
    type: list[str] = Field(description="A certificate type, or a list: any one of them")

    @field_validator("type", mode="before")
    @classmethod
    def _types(cls, value: Any) -> list[str]:
        given = [value] if isinstance(value, str) else value
        if not isinstance(given, list) or not given:
            raise ValueError("give a certificate type or a non-empty list of them")
        for t in given:
            if t not in CERTIFICATE_TYPES:
                raise ValueError(
                    f"unknown certificate type {t!r}; use one of: {', '.join(CERTIFICATE_TYPES)}"
                )
        return list(dict.fromkeys(given))


class CommitmentRule(_Rule):
    kind: Literal["commitment_certificate"]


class TestPassedRule(_Rule):
    kind: Literal["test_passed_within_days"]
    test: TestCode = Field(description="The test code (pesticide_residue, moisture, ...)")
    days: int = Field(ge=1, le=3660)


#: Catalog location kinds where goods are kept cold (``places: cold`` judges them always).
COLD_PLACE_KINDS = frozenset({"cold_room", "warehouse", "vehicle_compartment"})


class ColdChainRule(_Rule):
    kind: Literal["cold_chain_compliant"]
    places: Literal["cold", "all"] = Field(
        default="cold",
        description="cold: rooms, warehouses, vehicles, measured and unknown places; "
        "all: every custody interval",
    )


class CameraGradeRule(_Rule):
    kind: Literal["camera_grade_at_least"]
    grade: str = Field(min_length=1, max_length=64)
    scale: str | list[str] = Field(
        default="g", description="A built-in scale (g, sca, fruit) or a list, best first"
    )

    @property
    def ranks(self) -> tuple[str, ...]:
        return SCALES[self.scale] if isinstance(self.scale, str) else tuple(self.scale)

    @model_validator(mode="after")
    def _grade_on_scale(self) -> CameraGradeRule:
        if isinstance(self.scale, str) and self.scale not in SCALES:
            raise ValueError(
                f"scale: unknown scale {self.scale!r}; use one of {', '.join(SCALES)} or a "
                "list of grades, best first"
            )
        ranks = self.ranks
        if not ranks or len(set(ranks)) != len(ranks):
            raise ValueError("scale: a scale lists distinct grades, best first")
        if self.grade not in ranks:
            raise ValueError(f"grade: {self.grade!r} is not on the scale ({', '.join(ranks)})")
        return self


Rule = Annotated[
    CertificateRule | CommitmentRule | TestPassedRule | ColdChainRule | CameraGradeRule,
    Field(discriminator="kind"),
]
RULES = TypeAdapter(list[Rule])

KINDS = ("certificate", "commitment_certificate", "test_passed_within_days",
         "cold_chain_compliant", "camera_grade_at_least")  # fmt: skip


def parse_rules(raw: Any) -> list[Rule]:
    """A stored rule set as rule objects (validated as when it was set)."""
    return RULES.validate_python(raw)


def rule_json(rule: Rule) -> dict[str, Any]:
    """A rule as stored and shown: the fields given, no defaults added."""
    # ``places`` came later: a cold chain rule that does not give it stays as it was
    unset = {"places"} - rule.model_fields_set
    return rule.model_dump(mode="json", exclude_none=True, exclude=unset or None)


#: The first rule set (version 1), seeded by the migration: a valid green food, organic
#: or GI certificate, the lot's own 合格证, a passing pesticide residue test within 30
#: days, cold chain compliance on every interval, and for coffee a camera grade of at
#: least "premium".
DEFAULT_RULES: list[dict[str, Any]] = [
    {"kind": "certificate", "type": ["green_food", "organic", "geographical_indication"]},
    {"kind": "commitment_certificate"},
    {"kind": "test_passed_within_days", "test": "pesticide_residue", "days": 30},
    {"kind": "cold_chain_compliant"},
    {"kind": "camera_grade_at_least", "grade": "premium", "scale": "sca",
     "categories": ["coffee"]},
]  # fmt: skip


class RulesError(ValueError):
    """A rule set was refused: ``field`` names the rule and its field (``rules[2].days``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def check_rules(raw: Any) -> list[Rule]:
    """Validate a rule set given as JSON; RulesError naming the first bad field."""
    from pydantic import ValidationError

    if not isinstance(raw, list) or not raw:
        raise RulesError("rules", "a rule set is a non-empty list of rules")
    try:
        return RULES.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first["loc"])
        where = "rules"
        if loc and isinstance(loc[0], int):
            where += f"[{loc.pop(0)}]"
            if loc and loc[0] in KINDS:  # the discriminator's tag, not a field
                loc.pop(0)
        for part in loc:
            where += f"[{part}]" if isinstance(part, int) else f".{part}"
        msg = str(first["msg"]).removeprefix("Value error, ")
        named, sep, rest = msg.partition(": ")
        if sep and first["type"] == "value_error" and named.isidentifier():
            where, msg = f"{where}.{named}", rest
        if first["type"] == "union_tag_invalid" or first["type"] == "union_tag_not_found":
            where += ".kind"
            msg = f"unknown or missing rule kind; use one of: {', '.join(KINDS)}"
        raise RulesError(where, msg) from None
