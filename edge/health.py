"""The gateway's health message: buffer, process resources, disk, SD writes, clock.

Read from ``/proc`` and ``statvfs`` directly (no extra dependency on the Pi);
anything a platform does not offer is left out (None), never guessed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int | None:
    try:
        fields = Path("/proc/self/statm").read_text().split()
    except OSError:
        return None
    return int(fields[1]) * PAGE


def write_bytes() -> int | None:
    """Bytes this process caused to be written to storage (``/proc/self/io``)."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def disk_free(path: Path) -> int | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


class CpuMeter:
    """CPU use of this process since the previous call, percent of one core."""

    def __init__(self) -> None:
        self._cpu = self._now_cpu()
        self._wall = time.monotonic()

    @staticmethod
    def _now_cpu() -> float:
        t = os.times()
        return t.user + t.system

    def percent(self) -> float:
        cpu, wall = self._now_cpu(), time.monotonic()
        used, span = cpu - self._cpu, wall - self._wall
        self._cpu, self._wall = cpu, wall
        return round(100.0 * used / span, 2) if span > 0 else 0.0
