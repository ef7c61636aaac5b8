"""Simple tracking across conveyor frames, so each piece is counted once.

Greedy nearest-neighbour association of centroids, each track predicting its
next position from its last velocity; a detection beyond ``gate`` px of every
prediction starts a new track (and is counted), a track missed ``max_missed``
frames in a row is finished.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class _Track:
    x: float
    y: float
    vx: float = 0.0
    vy: float = 0.0
    missed: int = 0
    observations: list[Any] = field(default_factory=list)


class Tracker:
    def __init__(self, max_missed: int = 3, gate: float = 120.0) -> None:
        self.max_missed = max_missed
        self.gate = gate
        self.count = 0
        self._live: list[_Track] = []
        self._done: list[_Track] = []

    def update(self, detections: list[tuple[float, float, Any]]) -> int:
        """Associate this frame's (x, y, payload); returns how many new tracks began."""
        pairs = sorted(
            (math.hypot(t.x + t.vx - x, t.y + t.vy - y), ti, di)
            for ti, t in enumerate(self._live)
            for di, (x, y, _) in enumerate(detections)
        )
        used_t: set[int] = set()
        used_d: set[int] = set()
        for dist, ti, di in pairs:
            if dist > self.gate or ti in used_t or di in used_d:
                continue
            t = self._live[ti]
            x, y, payload = detections[di]
            t.vx, t.vy = x - t.x, y - t.y
            t.x, t.y = x, y
            t.missed = 0
            t.observations.append(payload)
            used_t.add(ti)
            used_d.add(di)
        for ti, t in enumerate(self._live):
            if ti not in used_t:
                t.missed += 1
                t.x += t.vx
                t.y += t.vy
        new = 0
        for di, (x, y, payload) in enumerate(detections):
            if di not in used_d:
                self._live.append(_Track(x, y, observations=[payload]))
                new += 1
        self.count += new
        self._done.extend(t for t in self._live if t.missed > self.max_missed)
        self._live = [t for t in self._live if t.missed <= self.max_missed]
        return new

    def finished(self) -> list[list[Any]]:
        """Observations of every track, finished or still live."""
        return [t.observations for t in (*self._done, *self._live)]
