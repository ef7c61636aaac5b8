"""统计用区划代码 (the NBS statistical division codes, 12 digits) of the four programme
counties, checked against the committed table ``data/dehong_divisions.json`` (partial:
its ``source`` says where it comes from and what is verified).

A code is 6 digits of GB/T 2260 county, 3 of township (街道/镇/乡), 3 of village
(居委会/村委会). A township's own code ends in ``000``. :func:`check_division` says
which rule a code breaks, naming the field: the format, the county prefix (one of the
four counties of :data:`protocol.ids.COUNTY_CODES`), membership in the table, the
level (a township where a village is wanted), and that a village lies in the given
township and county.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from protocol.ids import COUNTIES, COUNTY_CODES

DATA = Path(__file__).resolve().parent / "data" / "dehong_divisions.json"
CODE_RE = re.compile(r"^\d{12}$")
Level = Literal["township", "village"]


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    level: Level
    county: str
    #: the township's code (a village's township; a township: itself)
    township: str


class DivisionError(ValueError):
    """A bad division code; ``field`` names the input, ``str()`` the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@cache
def table() -> dict[str, Division]:
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    out: dict[str, Division] = {}
    for county, body in raw["counties"].items():
        for t in body["townships"]:
            out[t["code"]] = Division(t["code"], t["name"], "township", county, t["code"])
            for v in t["villages"]:
                out[v["code"]] = Division(v["code"], v["name"], "village", county, t["code"])
    return out


def source() -> str:
    return str(json.loads(DATA.read_text(encoding="utf-8"))["source"])


def check_division(code: str, level: Level, field: str, *, county: str | None = None,
                   township: str | None = None) -> Division:  # fmt: skip
    """The division of ``code``; :class:`DivisionError` naming ``field`` otherwise."""
    if not CODE_RE.match(code):
        raise DivisionError(field, f"{code!r} is not a 12-digit 统计用区划代码")
    prefix = code[:6]
    if prefix not in COUNTY_CODES:
        known = ", ".join(f"{c} {COUNTIES[c][1]}" for c in COUNTY_CODES)
        raise DivisionError(
            field, f"{code}: its first 6 digits {prefix} are not the GB/T 2260 code of a "
            f"programme county ({known})",
        )  # fmt: skip
    if county is not None and prefix != county:
        raise DivisionError(field, f"{code} is of county {prefix}, not {county}")
    found = table().get(code)
    if found is None:
        raise DivisionError(field, f"{code} is not in the division table of {COUNTIES[prefix][1]}")
    if found.level != level:
        raise DivisionError(field, f"{code} ({found.name}) is a {found.level}, not a {level}")
    if township is not None and found.township != township:
        raise DivisionError(field, f"{code} ({found.name}) is not in township {township}")
    return found


def name_of(code: str | None) -> str | None:
    if code is None:
        return None
    d = table().get(code)
    return None if d is None else d.name


def townships(county: str) -> list[Division]:
    return [d for d in table().values() if d.county == county and d.level == "township"]
