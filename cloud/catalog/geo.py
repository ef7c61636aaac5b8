"""Geometry of a production base: a GeoJSON Point or Polygon (RFC 7946), WGS-84.

The shapes are geojson-pydantic's (a polygon's rings are closed and have at least 4
positions); on top of them every position must be a real place: longitude within
-180..180, latitude within -90..90, finite. Stored as GeoJSON (lon, lat order) and
converted to GCJ-02 only where a page draws it on GCJ-02 tiles (DESIGN.md, Maps).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from geojson_pydantic import Point, Polygon
from pydantic import AfterValidator, Field


def _check_position(pos: Sequence[float], where: str) -> None:
    lon, lat = pos[0], pos[1]
    if not all(math.isfinite(v) for v in pos):
        raise ValueError(f"{where}: coordinates must be finite numbers, not {list(pos)}")
    if not -180.0 <= lon <= 180.0:
        raise ValueError(
            f"{where}: longitude {lon} is outside -180..180 (GeoJSON is [longitude, latitude])"
        )
    if not -90.0 <= lat <= 90.0:
        raise ValueError(
            f"{where}: latitude {lat} is outside -90..90 (GeoJSON is [longitude, latitude])"
        )


def _positions(shape: Point | Polygon) -> Iterable[tuple[str, Sequence[float]]]:
    if isinstance(shape, Point):
        yield "coordinates", shape.coordinates
        return
    for r, ring in enumerate(shape.coordinates):
        for i, pos in enumerate(ring):
            yield f"coordinates[{r}][{i}]", pos


#: Most positions a base's geometry may have (a surveyed boundary has hundreds).
MAX_POSITIONS = 5000


def _valid_wgs84(shape: Point | Polygon) -> Point | Polygon:
    for n, (where, pos) in enumerate(_positions(shape)):
        if n == MAX_POSITIONS:
            raise ValueError(
                f"coordinates: more than {MAX_POSITIONS} positions; simplify the boundary"
            )
        _check_position(pos, where)
    return shape


Geometry = Annotated[
    Point | Polygon,
    Field(discriminator="type", description="GeoJSON Point or Polygon, WGS-84 [lon, lat]"),
    AfterValidator(_valid_wgs84),
]


def as_geojson(shape: Point | Polygon) -> dict[str, Any]:
    """The plain GeoJSON mapping to store (no null bbox)."""
    data: dict[str, Any] = shape.model_dump(mode="json", exclude_none=True)
    data["coordinates"] = _lists(data["coordinates"])
    return data


def _lists(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value


def representative_point(shape: Point | Polygon) -> tuple[float, float]:
    """``(lon, lat)``: the point itself, or the mean of the outer ring's vertices (the
    closing position counted once): inside any convex base, good enough for a map pin."""
    if isinstance(shape, Point):
        return float(shape.coordinates[0]), float(shape.coordinates[1])
    ring = shape.coordinates[0][:-1]
    return (
        round(sum(p[0] for p in ring) / len(ring), 7),
        round(sum(p[1] for p in ring) / len(ring), 7),
    )
