"""How a catalog record takes a partial update: one rule for every kind of record."""

from __future__ import annotations

from typing import Any

from cloud.db import utcnow


def set_changed(record: Any, changes: dict[str, Any]) -> dict[str, Any]:
    """Set the fields of ``changes`` whose value differs from ``record``'s and stamp
    ``updated_at``; the fields that changed (empty: nothing did, nothing stamped)."""
    done = {k: v for k, v in changes.items() if getattr(record, k) != v}
    for key, value in done.items():
        setattr(record, key, value)
    if done:
        record.updated_at = utcnow()
    return done
