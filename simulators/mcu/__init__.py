"""Microcontroller node simulators (firmware_bridge protocol)."""
