"""The time-series layer: one small interface, two implementations.

- :class:`~cloud.timeseries.influx.InfluxStore`: InfluxDB through its v1 HTTP API
  (line protocol on ``/write``, InfluxQL on ``/query``), served by InfluxDB 1.x,
  2.x (v1 compatibility) and 3.x alike.
- :class:`~cloud.timeseries.sqlite.SqliteStore`: the embedded default, when no
  InfluxDB URL is set, with the same semantics (a point with the same series and
  timestamp overwrites, fields merge).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloud.timeseries.base import (
    QUALITY_SUFFIX,
    Bucket,
    LatestValue,
    Point,
    PointBlock,
    TimeSeriesError,
    TimeSeriesStore,
)
from cloud.timeseries.kinetics import Evidence

if TYPE_CHECKING:
    from cloud.settings import Settings


def open_store(influx_url: str, **kwargs: object) -> TimeSeriesStore:
    """The store the settings ask for: InfluxDB when a URL is set, else SQLite."""
    if influx_url:
        from cloud.timeseries.influx import InfluxStore

        return InfluxStore(
            influx_url,
            database=str(kwargs.get("database", "dehong")),
            username=str(kwargs.get("username", "") or ""),
            password=str(kwargs.get("password", "") or ""),
        )
    from pathlib import Path

    from cloud.timeseries.sqlite import SqliteStore

    return SqliteStore(Path(str(kwargs.get("path", "var/timeseries.db"))))


def store_for(settings: Settings) -> TimeSeriesStore:
    """The time-series store the settings name (``DEHONG_INFLUX_*`` or the embedded one);
    not opened yet."""
    return open_store(
        settings.influx_url,
        database=settings.influx_db,
        username=settings.influx_username,
        password=settings.influx_password.get_secret_value(),
        path=settings.tsdb_path,
    )


__all__ = [
    "QUALITY_SUFFIX",
    "Bucket",
    "Evidence",
    "LatestValue",
    "Point",
    "PointBlock",
    "TimeSeriesError",
    "TimeSeriesStore",
    "open_store",
    "store_for",
]
