"""Shared fixtures. Service fixtures live in tests/support/ and are imported here."""

from __future__ import annotations

pytest_plugins = ["tests.support.fixtures"]
