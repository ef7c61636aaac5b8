"""The metric names a truck gateway publishes for its vehicle (one device per vehicle).

These names must match protocol/positions.py (the wire contract's position
metrics), which is where the cloud reads them; they are kept here, in one
place, so the simulator depends on nothing newer than the contract it speaks.
"""

from __future__ import annotations

LAT = "lat"  # degrees, WGS-84
LON = "lon"  # degrees, WGS-84
SPEED_KMH = "speed_kmh"  # km/h over ground
COURSE_DEG = "course_deg"  # degrees clockwise from true north
ALT_M = "alt_m"  # metres above mean sea level
ACCURACY_M = "accuracy_m"  # horizontal accuracy, metres
BATTERY_PCT = "battery_pct"  # 0-100
TEMP1 = "temp1"  # degC, reefer compartment air probe
DOOR = "door"  # 1 open, 0 closed (reefer door contact)

POSITION_METRICS = (LAT, LON, SPEED_KMH, COURSE_DEG, ALT_M, ACCURACY_M)
ALL_METRICS = (*POSITION_METRICS, BATTERY_PCT, TEMP1, DOOR)
