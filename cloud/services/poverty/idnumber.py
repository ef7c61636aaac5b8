"""The citizen identity number (公民身份号码, GB 11643-1999): 17 digits (6 of address,
8 of birth date, 3 of sequence) and a check character over them (ISO 7064 MOD 11-2:
weights 2^(17-i) mod 11, ``10X98765432``)."""

from __future__ import annotations

import re
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
SHAPE = re.compile(r"^\d{17}[\dX]$")


def check_char(first17: str) -> str:
    return CHECK[sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) % 11]


def check_id_number(value: str) -> str:
    """The number (``x`` upper-cased); ValueError saying what is wrong."""
    v = value.strip().upper()
    if not SHAPE.match(v):
        raise ValueError("an ID number is 17 digits and a check digit or X (18 characters)")
    try:
        born = date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        raise ValueError(f"digits 7-14 ({v[6:14]}) are not a birth date") from None
    if born.year < 1900 or born > date.today():
        raise ValueError(f"digits 7-14 ({v[6:14]}) are not a plausible birth date")
    expected = check_char(v[:17])
    if v[17] != expected:
        raise ValueError(f"the check digit is {v[17]}, the first 17 digits give {expected} "
                         "(GB 11643)")  # fmt: skip
    return v
