"""The check of a resident identity card number (GB 11643-1999): 17 digits and an
ISO 7064 MOD 11-2 check character."""

from __future__ import annotations

import re

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_id_number(value: str) -> str:
    """The number upper-cased; ValueError saying what is wrong."""
    v = value.strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", v):
        raise ValueError("an ID number is 17 digits and a check character (digit or X)")
    expected = _CHECK[sum(int(d) * w for d, w in zip(v[:17], _WEIGHTS, strict=True)) % 11]
    if v[17] != expected:
        raise ValueError(f"ID number check character is {v[17]}, expected {expected}: a typo?")
    return v
