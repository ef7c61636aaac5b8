"""The buyer's destination: a city name, and its county code when it is one of Dehong's.

Platforms give an address (``云南省 德宏傣族景颇族自治州 芒市 勐焕路 12 号``) or the
province/city/district in columns. Only the city (or, inside Dehong, the county-level
city or county) is kept: the street, the name and the phone are dropped on arrival.
"""

from __future__ import annotations

import re

#: Names of the four counties as buyers' addresses spell them -> GB/T 2260 code.
COUNTY_NAMES: dict[str, str] = {
    "芒市": "533103",
    "潞西": "533103",
    "潞西市": "533103",
    "mangshi": "533103",
    "陇川": "533124",
    "陇川县": "533124",
    "longchuan": "533124",
    "盈江": "533123",
    "盈江县": "533123",
    "yingjiang": "533123",
    "梁河": "533122",
    "梁河县": "533122",
    "lianghe": "533122",
}
#: Address parts that name a province or prefecture, never the city we keep.
_PROVINCE_SUFFIXES = ("省", "自治区", "特别行政区")
_MUNICIPALITIES = ("北京", "上海", "天津", "重庆")
_GLUED = re.compile(
    r"^(?:[^省]+省|[^区]+自治区)?(德宏(?:傣族景颇族自治)?州)?([^市州县]+?(?:市|州|县))"
)
_PREFECTURE_OF_DEHONG = re.compile(r"^德宏(傣族景颇族自治)?州?$")


def county_of(city: str | None) -> str | None:
    """The county code of a destination city inside Dehong, else None."""
    if not city:
        return None
    return COUNTY_NAMES.get(city.strip().lower())


def city_from_parts(province: str | None, city: str | None, district: str | None) -> str | None:
    """The city of a province/city/district triple (Dehong: its county-level name)."""
    c = (city or "").strip()
    d = (district or "").strip()
    if _PREFECTURE_OF_DEHONG.match(c) and d:
        return d[:64]
    if c:
        return c[:64]
    p = (province or "").strip()
    return p[:64] or None


def city_from_address(address: str | None) -> str | None:
    """The city of a free-text address: its first part after the province that names a
    city (Dehong: the county-level part after the prefecture). The rest is dropped."""
    if not address:
        return None
    if "，" in address or "," in address:
        address = address.replace("，", " ").replace(",", " ")
    parts = address.split()
    if len(parts) == 1:
        # no spaces: cut after the province and the city suffixes
        m = _GLUED.match(parts[0])
        return m.group(2)[:64] if m else None
    first = parts[0]
    if first.startswith(_MUNICIPALITIES):
        return f"{first[:2]}市"
    after_dehong = False
    for p in parts:
        if after_dehong:
            return p[:64]
        if p.endswith(_PROVINCE_SUFFIXES):
            continue
        if _PREFECTURE_OF_DEHONG.match(p):
            after_dehong = True
            continue
        return p[:64]
    return parts[-1][:64]
