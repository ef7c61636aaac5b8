"""The edge's name for the shared :class:`protocol.backoff.Backoff` (kept for the
modules that import it from here)."""

from __future__ import annotations

from protocol.backoff import Backoff

__all__ = ["Backoff"]
