"""Product categories: the codes every system uses (docs: cloud/catalog/README.md).

The codes are the trace contract's; the Chinese names are what pages show. The 2026
承诺达标合格证 rule names the categories that need a certificate (cloud/trace uses
:data:`CERTIFICATE_REQUIRED`).
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field

CategoryCode = Literal[
    "coffee",
    "fruit_mango",
    "fruit_lemon",
    "fruit_lychee",
    "fruit_other",
    "tea_fresh_leaf",
    "tea",
    "vegetable",
    "livestock",
    "eggs",
    "aquatic",
    "grain",
    "dendrobium",
    "other",
]

CATEGORIES: tuple[str, ...] = get_args(CategoryCode)

#: code -> (Chinese, English)
NAMES: dict[str, tuple[str, str]] = {
    "coffee": ("咖啡", "coffee"),
    "fruit_mango": ("芒果", "mango"),
    "fruit_lemon": ("柠檬", "lemon"),
    "fruit_lychee": ("荔枝", "lychee"),
    "fruit_other": ("其他水果", "other fruit"),
    "tea_fresh_leaf": ("茶鲜叶", "fresh tea leaves"),
    "tea": ("茶叶", "tea"),
    "vegetable": ("蔬菜", "vegetables"),
    "livestock": ("畜禽", "livestock and poultry"),
    "eggs": ("禽蛋", "eggs"),
    "aquatic": ("水产品", "aquatic products"),
    "grain": ("粮食", "grain"),
    "dendrobium": ("石斛", "dendrobium"),
    "other": ("其他", "other"),
}

#: The categories whose lots need a 承诺达标合格证 (vegetables, fruit, fresh tea leaves,
#: livestock, eggs, aquatic products); it is allowed for all others.
CERTIFICATE_REQUIRED = frozenset(
    {
        "vegetable",
        "fruit_mango",
        "fruit_lemon",
        "fruit_lychee",
        "fruit_other",
        "tea_fresh_leaf",
        "livestock",
        "eggs",
        "aquatic",
    }
)

Categories = Annotated[
    list[CategoryCode],
    Field(min_length=1, max_length=len(CATEGORIES), description="Product category codes"),
]


def check_category(value: str) -> str:
    """The code, or ValueError listing the known ones."""
    if value not in CATEGORIES:
        raise ValueError(f"unknown category {value!r}; use one of: {', '.join(CATEGORIES)}")
    return value
