"""The time-series layer: one small interface, two implementations.

- :class:`~cloud.timeseries.influx.InfluxStore`: InfluxDB through its v1 HTTP API
  (line protocol on ``/write``, InfluxQL on ``/query``), served by InfluxDB 1.x,
  2.x (v1 compatibility) and 3.x alike.
- :class:`~cloud.timeseries.sqlite.SqliteStore`: the embedded default, when no
  InfluxDB URL is set, with the same semantics (a point with the same series and
  timestamp overwrites, fields merge).
"""

from cloud.timeseries.base import (
    QUALITY_SUFFIX,
    Bucket,
    LatestValue,
    Point,
    TimeSeriesError,
    TimeSeriesStore,
)


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


__all__ = [
    "QUALITY_SUFFIX",
    "Bucket",
    "LatestValue",
    "Point",
    "TimeSeriesError",
    "TimeSeriesStore",
    "open_store",
]
