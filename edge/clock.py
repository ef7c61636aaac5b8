"""The gateway's clocks: wall time that may be wrong, monotonic time that is not.

A Raspberry Pi has no real-time clock: it boots at the last time fake-hwclock
saved (or at 1970) and only NTP makes the wall clock right. So every reading
is stored with the wall time *and* the monotonic time and boot id of the
moment it was taken (see :mod:`edge.buffer`), and this module says whether the
wall clock can be believed right now:

- ``trusted_when: synced`` (the Pi default): the kernel reports the clock
  NTP-synchronised (``adjtimex`` is not ``TIME_ERROR``, or systemd-timesyncd's
  ``/run/systemd/timesync/synchronized`` exists);
- ``trusted_when: plausible``: the wall clock is not behind the last good wall
  time (for machines with a real RTC, containers and tests);
- in both modes a wall clock *behind* the persisted last good time is never
  trusted (it went backwards: a reboot without network).

The last good wall time is persisted by the buffer (in its own database, so a
reading and the clock it was taken under are committed together); on start the
gateway never reports a time earlier than it (fake-hwclock's rule), so a
reading is never written at 1970.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
#: adjtimex() result meaning "clock not synchronised".
TIME_ERROR = 5

ClockState = Literal["trusted", "suspect", "unknown"]
TrustRule = Literal["synced", "plausible"]


def now_ms() -> int:
    """The wall clock as UTC epoch milliseconds (the edge's one copy)."""
    return time.time_ns() // 1_000_000


def boot_id() -> str:
    """This boot's id (``/proc/sys/kernel/random/boot_id``), ``"unknown"`` off Linux."""
    try:
        return BOOT_ID_PATH.read_text(encoding="ascii").strip()[:64] or "unknown"
    except OSError:
        return "unknown"


def kernel_synced() -> bool | None:
    """True/False when the kernel knows whether NTP synchronised the clock, else None."""
    if TIMESYNC_FLAG.exists():
        return True
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        buf = ctypes.create_string_buffer(512)  # struct timex (208 bytes on 64-bit), modes = 0
        state = int(libc.adjtimex(buf))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR


class Clock:
    """Wall time, monotonic time, boot id and whether the wall time is trusted.

    ``wall_ms`` and ``mono_ms`` are injectable so tests can play a Pi that boots
    at the wrong time and is corrected later.
    """

    def __init__(
        self,
        trusted_when: TrustRule = "plausible",
        *,
        last_good_ms: int = 0,
        wall_ms: Callable[[], int] | None = None,
        mono_ms: Callable[[], int] | None = None,
        synced: Callable[[], bool | None] = kernel_synced,
        boot: str | None = None,
    ) -> None:
        self.trusted_when = trusted_when
        self.last_good_ms = last_good_ms
        self._wall = wall_ms or (lambda: time.time_ns() // 1_000_000)
        self._mono = mono_ms or (lambda: time.monotonic_ns() // 1_000_000)
        self._synced = synced
        self.boot = boot if boot is not None else boot_id()

    def wall_ms(self) -> int:
        """The wall time, never earlier than the last good wall time."""
        return max(self._wall(), self.last_good_ms)

    def mono_ms(self) -> int:
        return self._mono()

    def trusted(self) -> bool:
        wall = self._wall()
        if wall < self.last_good_ms:
            return False  # went backwards: booted without network and without an RTC
        if self.trusted_when == "plausible":
            return True
        return self._synced() is True

    def state(self) -> ClockState:
        if self.trusted():
            return "trusted"
        return "suspect" if self.last_good_ms else "unknown"

    def mark_good(self) -> int | None:
        """If trusted now, advance the last good wall time and return it (to persist)."""
        if not self.trusted():
            return None
        self.last_good_ms = max(self.last_good_ms, self._wall())
        return self.last_good_ms

    def recompute(self, mono_ms: int) -> int:
        """The wall time of a moment of this boot, from its monotonic time (clock trusted)."""
        return self._wall() - (self._mono() - mono_ms)
