"""pytest fixtures for the real servers (InfluxDB, PostgreSQL, Mosquitto)."""

from __future__ import annotations
