"""A null-modem cable in software: two pseudo-terminals whose traffic is bridged.

The Modbus RTU simulator opens one end (``a``), the gateway's serial client the
other (``b``), exactly as they would open ``/dev/ttyUSB0``. The bridge copies
bytes between the two pty masters on the event loop (readers, no polling).

``unplugged`` plays slaves that are on the map but not on the wire: a request
frame from ``b`` whose address byte is in it never reaches ``a``, so nothing
answers and the master times out, as on a real RS-485 bus. (A master sends one
frame and waits, so each read from ``b`` is one frame.)
"""

from __future__ import annotations

import asyncio
import os
import tty


class SerialPair:
    """``a`` and ``b`` are tty paths; bytes written to one arrive at the other."""

    def __init__(self, unplugged: set[int] | None = None) -> None:
        self.unplugged = unplugged or set()
        self._fds: list[int] = []
        self.a = ""
        self.b = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self.bytes_a_to_b = 0
        self.bytes_b_to_a = 0

    def _pty(self) -> tuple[int, str]:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline: a plain 8-bit serial line
        os.set_blocking(master, False)
        self._fds += [master, slave]  # keep the slave open so the line never hangs up
        return master, os.ttyname(slave)

    async def __aenter__(self) -> SerialPair:
        self._loop = asyncio.get_running_loop()
        self._ma, self.a = self._pty()
        self._mb, self.b = self._pty()
        self._loop.add_reader(self._ma, self._copy, self._ma, self._mb, True)
        self._loop.add_reader(self._mb, self._copy, self._mb, self._ma, False)
        return self

    def _copy(self, src: int, dst: int, a_to_b: bool) -> None:
        try:
            data = os.read(src, 4096)
        except BlockingIOError:
            return
        except OSError:
            return  # the other side closed its end: nothing to copy
        if not a_to_b and data and data[0] in self.unplugged:
            return  # addressed to a slave that is not on the wire
        os.write(dst, data)
        if a_to_b:
            self.bytes_a_to_b += len(data)
        else:
            self.bytes_b_to_a += len(data)

    async def __aexit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._ma)
            self._loop.remove_reader(self._mb)
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
