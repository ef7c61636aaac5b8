"""A simulated RS-485 line between two ptys: like simulators.serialpair.SerialPair,
but paced. A pty has no baud rate, so each burst written to one end arrives at the
other after the line has carried it: 10 bits per byte (8N1) at `baudrate`, plus
`turnaround_s` before each burst (the half-duplex driver switching direction). The
line is shared by both directions (half duplex), so bursts queue behind each other."""

from __future__ import annotations

import asyncio
import os
import tty


class PacedLine:
    def __init__(self, baudrate: int = 115_200, turnaround_s: float = 0.001) -> None:
        self.baudrate = baudrate
        self.turnaround_s = turnaround_s
        self.a = ""
        self.b = ""
        self._fds: list[int] = []
        self._free_at = 0.0
        self._last_src = -1
        self.bytes_carried = 0
        self.busy_s = 0.0

    def byte_time(self, n: int) -> float:
        return n * 10 / self.baudrate

    def _pty(self) -> tuple[int, str]:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._fds += [master, slave]
        return master, os.ttyname(slave)

    async def __aenter__(self) -> PacedLine:
        self._loop = asyncio.get_running_loop()
        self._ma, self.a = self._pty()
        self._mb, self.b = self._pty()
        self._loop.add_reader(self._ma, self._copy, self._ma, self._mb)
        self._loop.add_reader(self._mb, self._copy, self._mb, self._ma)
        return self

    def _copy(self, src: int, dst: int) -> None:
        try:
            data = os.read(src, 4096)
        except OSError:
            return
        if not data:
            return
        now = self._loop.time()
        # a turnaround when the line changes direction (or starts after being idle);
        # the pieces of one burst that the pty hands over separately cost none
        turn = src != self._last_src or now > self._free_at
        self._last_src = src
        cost = (self.turnaround_s if turn else 0.0) + self.byte_time(len(data))
        start = max(now, self._free_at)
        self._free_at = start + cost
        self.bytes_carried += len(data)
        self.busy_s += cost
        self._loop.call_at(self._free_at, self._deliver, dst, data)

    def _deliver(self, dst: int, data: bytes) -> None:
        try:
            os.write(dst, data)
        except OSError:
            pass

    async def __aexit__(self, *exc: object) -> None:
        self._loop.remove_reader(self._ma)
        self._loop.remove_reader(self._mb)
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
