"""A node's serial console on a pty: what `dehong fw provision` writes the key to.

Lines in, one answer line out (`SimNode.console`). A real node's console is its
debug UART; here the simulator opens a pty and prints its path."""

from __future__ import annotations

import asyncio
import os
import tty
from collections.abc import Callable

from simulators.mcu.node import SimNode


class NodeConsole:
    def __init__(self, node: SimNode, on_key: Callable[[SimNode], None] | None = None) -> None:
        self.node = node
        self.on_key = on_key
        self.path = ""
        self._buf = b""

    async def __aenter__(self) -> NodeConsole:
        self._master, slave = os.openpty()
        tty.setraw(slave)
        self._slave = slave
        os.set_blocking(self._master, False)
        self.path = os.ttyname(slave)
        asyncio.get_running_loop().add_reader(self._master, self._readable)
        return self

    async def __aexit__(self, *exc: object) -> None:
        asyncio.get_running_loop().remove_reader(self._master)
        os.close(self._master)
        os.close(self._slave)

    def _readable(self) -> None:
        try:
            self._buf += os.read(self._master, 1024)
        except OSError:
            return
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            before = self.node.key
            answer = self.node.console(line.decode("utf-8", "replace"))
            os.write(self._master, (answer + "\r\n").encode())
            if self.node.key != before and self.on_key is not None:
                self.on_key(self.node)
