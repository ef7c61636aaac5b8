"""An event's time fields from an aware datetime: ``eventTime`` (milliseconds, with its
own offset) and ``eventTimeZoneOffset``; used by every event we make ourselves."""

from __future__ import annotations

from datetime import datetime


def offset_text(t: datetime) -> str:
    """``+08:00``: the eventTimeZoneOffset of an aware datetime."""
    offset = t.utcoffset()
    if offset is None:
        raise ValueError("naive datetime given; use an aware datetime")
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def event_time_fields(t: datetime) -> dict[str, str]:
    """``{"eventTime", "eventTimeZoneOffset"}`` of ``t`` as given (its own offset)."""
    return {
        "eventTime": t.isoformat(timespec="milliseconds"),
        "eventTimeZoneOffset": offset_text(t),
    }
